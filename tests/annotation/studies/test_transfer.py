"""`manage.py export_study` and `import_study`: a study moved to another deployment (PostgreSQL, or SQLite)
gives the same report there, with its videos (by sha256), votes, raters and reported problems; a second
import is refused by name or becomes a copy under a new one; a damaged file is refused with nothing
written."""

from __future__ import annotations

import json

import pytest

from tests.support.deployments import corrupt, media_state, postgres_deployment, sqlite_deployment

pytestmark = pytest.mark.worker

NAME = "Study of SecretModelX"


def counts(described: dict) -> dict[str, int]:
    return {label: len(rows) for label, rows in described["rows"].items()}


def moved_equal(original: dict, moved: dict) -> None:
    """The moved study is the original one as its report, its files and its rows' numbers show it."""
    assert moved["reports"][NAME] == original["reports"][NAME]
    assert moved["files"] == original["files"]
    unmoved = {"generation.GenerationJob"}  # generation jobs stay behind: their videos travel
    assert {k: n for k, n in counts(moved).items() if k not in unmoved} == {k: n for k, n in counts(original).items() if k not in unmoved}
    # Every setting of the study, its slug and dates too; not the ids of its prompt set and accounts.
    ids = {"prompt_set", "invited", "created_by"}
    study, there = original["rows"]["annotation.Study"][0]["fields"], moved["rows"]["annotation.Study"][0]["fields"]
    assert {k: v for k, v in there.items() if k not in ids} == {k: v for k, v in study.items() if k not in ids}
    assert votes(moved) == votes(original)


def votes(described: dict) -> list[tuple]:
    return sorted((v["fields"]["question"], v["fields"]["choice"], v["fields"]["created_at"]) for v in described["rows"]["annotation.Vote"])


def rounded(value):
    """`value` with every float rounded to 9 decimals."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def test_a_study_exported_and_imported_elsewhere_gives_the_same_report(tmp_path):
    archive = tmp_path / "study.tar"
    with postgres_deployment(tmp_path / "a") as original, postgres_deployment(tmp_path / "b") as other:
        slug = original.populate(name=NAME)
        made = original.manage("export_study", slug, str(archive))
        assert made.returncode == 0, made.stderr
        assert f"Wrote study {NAME!r} to {archive}" in made.stdout
        other.migrate()
        other.python('from django.contrib.auth.models import User; User.objects.create_user("guest")')
        imported = other.manage("import_study", str(archive))
        assert imported.returncode == 0, imported.stderr
        assert f"/s/{slug}/" in imported.stdout  # the same public slug: its join links still work
        assert "No account here is named researcher: the study came without them" in imported.stdout
        before, after = original.describe(), other.describe()
        moved_equal(before, after)
        # The account invited there exists here; the researcher who made it does not.
        assert after["rows"]["annotation.Study"][0]["fields"]["invited"] and after["users"] == ["guest"]

        again = other.manage("import_study", str(archive))
        assert again.returncode != 0 and f"a study named {NAME!r} exists here already" in again.stderr and "--name" in again.stderr
        copy = other.manage("import_study", str(archive), "--name", "A copy")
        assert copy.returncode == 0, copy.stderr
        reports = other.describe()["reports"]
        # The copy's report is the original's but for the study's name (and the last digits of agreement
        # figures: its items' ids differ, so their sums run in another order); it reuses the prompt set and videos.
        copied = json.loads(json.dumps(reports["A copy"]).replace('"A copy"', json.dumps(NAME)))
        assert rounded(copied) == rounded(before["reports"][NAME])
        assert other.describe()["files"] == after["files"]

    # And to a deployment on SQLite.
    sqlite = sqlite_deployment(tmp_path / "c")
    sqlite.migrate()
    assert sqlite.manage("import_study", str(archive)).returncode == 0
    moved_equal(before, sqlite.describe())


def test_a_damaged_study_file_is_refused_and_nothing_is_written(tmp_path):
    deployment = sqlite_deployment(tmp_path / "a")
    slug = deployment.populate(name=NAME)
    assert deployment.manage("export_study", slug, str(tmp_path / "study.tar")).returncode == 0
    member = corrupt(tmp_path / "study.tar", tmp_path / "damaged.tar", member="media/videos/")
    target = sqlite_deployment(tmp_path / "b")
    target.migrate()
    before, files = target.describe(), media_state(target)
    refused = target.manage("import_study", str(tmp_path / "damaged.tar"))
    assert refused.returncode != 0 and f"{member} does not match the checksum" in refused.stderr
    assert target.describe() == before and media_state(target) == files


def test_an_import_refused_midway_leaves_no_row_and_no_file(tmp_path):
    deployment = sqlite_deployment(tmp_path / "a")
    slug = deployment.populate(name=NAME)
    assert deployment.manage("export_study", slug, str(tmp_path / "study.tar")).returncode == 0
    target = sqlite_deployment(tmp_path / "b")
    target.migrate()
    # A system of the same name but other settings: found after the prompt set and its images were stored.
    target.python('from generation.models import System; System.objects.create(name="SecretModelZ", kind="generated", '
                  'pipeline="TextToVideoSDPipeline", model="/models/z")')
    before, files = target.describe(), media_state(target)
    refused = target.manage("import_study", str(tmp_path / "study.tar"))
    assert refused.returncode != 0
    assert "a system named 'SecretModelZ' exists here with other settings (kind, pipeline, model)" in refused.stderr
    assert target.describe() == before and media_state(target) == files
