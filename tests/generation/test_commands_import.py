"""The import and account commands: a summary and exit 0 on success; on bad input a clear error
on stderr, nothing written, a non-zero exit."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from generation.models import PromptSet, System, Video
from juice.auth import hash_key
from juice.models import ApiToken
from tests.support import ROOT
from tests.support.state import snapshot


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_it_imports_prompts_and_prints_a_summary(tmp_path):
    source = tmp_path / "p.csv"
    source.write_text("text,category\nA cat,animals\nA dog,animals\nA castle,fantasy\n")
    out = run("import_prompts", str(source), "--name", "mine")
    assert out == "Imported 3 prompts into prompt set 'mine' (2 categories, 0 with images).\n"


@pytest.mark.django_db
def test_it_reports_a_bad_prompt_file_as_a_command_error(tmp_path, media_root):
    source = tmp_path / "p.csv"
    source.write_text("id,text\na,x\na,y\n")
    before = snapshot(media_root)
    with pytest.raises(CommandError, match=r"p\.csv, line 3: duplicate id 'a' \(first on line 2\)"):
        run("import_prompts", str(source), "--name", "mine")
    with pytest.raises(CommandError, match=r"nope\.csv: no such file or folder"):
        run("import_prompts", str(tmp_path / "nope.csv"), "--name", "other")
    assert snapshot(media_root) == before


@pytest.mark.django_db
def test_it_imports_videos_and_prints_coverage(tmp_path, sample_videos):
    source = tmp_path / "p.txt"
    source.write_text("A cat\nA dog\n")
    run("import_prompts", str(source), "--name", "mine")
    System.objects.create(name="pika", kind="external")
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(sample_videos["mp4"], folder / "p0001.mp4")
    out = run("import_videos", str(folder), "--system", "pika", "--prompt-set", "mine")
    assert out == "Imported 1 video for system 'pika'; 1 of 2 prompts of 'mine' now have one.\n"
    with pytest.raises(CommandError, match="already has a video for prompt 'p0001'"):
        run("import_videos", str(folder), "--system", "pika", "--prompt-set", "mine")
    run("import_videos", str(folder), "--system", "pika", "--prompt-set", "mine", "--replace")
    assert Video.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("system", "prompt_set", "message"),
    [
        ("ghost", "mine", "no system named 'ghost'; create it with: manage.py add_system ghost --external"),
        ("pika", "ghost", "no prompt set named 'ghost'"),
    ],
)
def test_it_names_an_unknown_system_or_prompt_set(tmp_path, system, prompt_set, message):
    PromptSet.objects.create(name="mine")
    System.objects.create(name="pika", kind="external")
    with pytest.raises(CommandError, match=message):
        run("import_videos", str(tmp_path), "--system", system, "--prompt-set", prompt_set)


@pytest.mark.django_db
def test_it_creates_a_researcher_idempotently():
    assert run("create_researcher", "bob", "--password", "bob-password-1") == "Created researcher 'bob'; log in at /login/.\n"
    assert run("create_researcher", "bob", "--password", "bob-password-2") == "Updated researcher 'bob'; log in at /login/.\n"
    bob = get_user_model().objects.get(username="bob")
    assert bob.is_staff and bob.check_password("bob-password-2")
    with pytest.raises(CommandError, match="password refused"):
        run("create_researcher", "carol", "--password", "short")
    assert not get_user_model().objects.filter(username="carol").exists()


@pytest.mark.django_db
def test_it_prints_an_api_token_once_and_keeps_only_its_hash(researcher):
    key = run("create_api_token", "alice").strip()
    assert ApiToken.objects.get(user=researcher).key_hash == hash_key(key) != key
    get_user_model().objects.create_user("eve", password="eve-password-1")
    with pytest.raises(CommandError, match="'eve' is not an active researcher"):
        run("create_api_token", "eve")
    with pytest.raises(CommandError, match="no user named 'zed'"):
        run("create_api_token", "zed")


def manage(*args: str, media_root: Path) -> subprocess.CompletedProcess:
    """manage.py in a real process, on the test database."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_ROOT": str(media_root)}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.django_db(transaction=True)
def test_it_exits_non_zero_with_the_error_on_stderr_in_a_real_process(tmp_path, media_root):
    bad = tmp_path / "prompts.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "broken"\n')
    result = manage("import_prompts", str(bad), "--name", "mine", media_root=media_root)
    assert result.returncode == 1
    assert "prompts.jsonl, line 2: invalid JSON" in result.stderr
    assert result.stdout == ""
    assert not PromptSet.objects.exists()

    good = tmp_path / "prompts.txt"
    good.write_text("A cat\nA dog\n")
    result = manage("import_prompts", str(good), "--name", "mine", media_root=media_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Imported 2 prompts into prompt set 'mine' (0 categories, 0 with images).\n"
    assert list(PromptSet.objects.get(name="mine").prompts.values_list("key", flat=True)) == ["p0001", "p0002"]
