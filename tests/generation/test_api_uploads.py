"""The JSON API for prompt sets and external videos: token auth, 201 on success, 400 naming the file."""


import pytest
from django.contrib.auth import get_user_model

from generation.models import PromptSet, System, Video
from juice.auth import api_token_create
from tests.support.state import snapshot
from tests.support.uploads import upload, zipped

pytestmark = pytest.mark.django_db


def test_it_needs_a_token(client):
    response = client.post("/api/prompt-sets", {"name": "x", "file": upload("p.txt", "a\n")})
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required: send 'Authorization: Token <key>'"}
    assert client.get("/api/prompt-sets", HTTP_AUTHORIZATION="Token wrong").status_code == 401
    assert not PromptSet.objects.exists()


def test_it_refuses_a_token_of_a_user_who_is_not_a_researcher(client):
    rater = get_user_model().objects.create_user("rater", password="rater-password-1")
    response = client.get("/api/prompt-sets", HTTP_AUTHORIZATION=f"Token {api_token_create(user=rater)}")
    assert response.status_code == 403


def test_it_creates_lists_and_shows_a_prompt_set(api):
    jsonl = '{"text": "A cat"}\n{"id": "d", "text": "A dog"}\n'
    response = api.post("/api/prompt-sets", {"name": "api set", "file": upload("p.jsonl", jsonl)})
    assert response.status_code == 201
    assert response.json() == {"name": "api set", "count": 2, "ids": ["p0001", "d"]}

    listed = api.get("/api/prompt-sets").json()["prompt_sets"]
    assert [(s["name"], s["count"]) for s in listed] == [("api set", 2)]

    detail = api.get("/api/prompt-sets/api set").json()
    assert detail["source"] == "p.jsonl"
    assert detail["prompts"] == [
        {"id": "p0001", "text": "A cat", "category": "", "has_image": False},
        {"id": "d", "text": "A dog", "category": "", "has_image": False},
    ]
    assert api.get("/api/prompt-sets/nope").status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "file": ("p.csv", "id,text\na,\n")}, "p.csv, line 2: empty prompt"),
        ({"name": "x", "file": ("p.csv", "prompt\nA cat\n")}, "p.csv, line 1: no 'text' column in the header"),
        ({"name": "x", "file": ("p.txt", b"caf\xc3")}, "p.txt, line 1: not valid UTF-8"),
        ({"name": "x"}, "send the file as the multipart field 'file'"),
        ({"name": " ", "file": ("p.txt", "a\n")}, "a prompt set needs a name"),
    ],
)
def test_it_answers_400_naming_the_file_and_line(api, media_root, data, message):
    if "file" in data:
        data = {**data, "file": upload(*data["file"])}
    before = snapshot(media_root)
    response = api.post("/api/prompt-sets", data)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert snapshot(media_root) == before


def test_it_answers_413_over_the_upload_limit(api, settings, media_root):
    settings.JUICE_MAX_UPLOAD_BYTES = 1000
    before = snapshot(media_root)
    response = api.post("/api/prompt-sets", {"name": "big", "file": upload("p.txt", "a cat\n" * 500)})
    assert response.status_code == 413
    assert "upload too large" in response.json()["error"]
    assert snapshot(media_root) == before


@pytest.fixture
def set_with_prompts(api):
    api.post("/api/prompt-sets", {"name": "s", "file": upload("p.txt", "A cat\nA dog\n")})
    return PromptSet.objects.get(name="s")


def test_it_imports_videos_of_an_external_system(api, set_with_prompts, sample_videos):
    System.objects.create(name="gen2", kind="external")
    archive = zipped({"p0001.mp4": sample_videos["mp4"].read_bytes(), "p0002.webm": sample_videos["webm"].read_bytes()})
    response = api.post("/api/systems/gen2/videos", {"prompt_set": "s", "file": upload("gen2.zip", archive)})
    assert response.status_code == 201
    assert response.json() == {"system": "gen2", "prompt_set": "s", "imported": 2, "videos": 2, "prompts": 2}

    again = api.post("/api/systems/gen2/videos", {"prompt_set": "s", "file": upload("gen2.zip", archive)})
    assert again.status_code == 400
    replaced = api.post("/api/systems/gen2/videos", {"prompt_set": "s", "replace": "true", "file": upload("gen2.zip", archive)})
    assert replaced.status_code == 201 and Video.objects.count() == 2


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"/etc/p0001.mp4": "mp4"}, "gen2.zip: entry '/etc/p0001.mp4' would escape the target folder"),
        ({"p0001.mp4": b"<html>not a video</html>"}, "gen2.zip/p0001.mp4: not a readable video"),
        ({"p0009.mp4": "mp4"}, "gen2.zip/p0009.mp4: no prompt with id 'p0009' in prompt set 's'"),
    ],
)
def test_it_answers_400_naming_the_rejected_video(api, set_with_prompts, sample_videos, media_root, entries, message):
    System.objects.create(name="gen2", kind="external")
    archive = zipped({k: sample_videos[v].read_bytes() if isinstance(v, str) else v for k, v in entries.items()})
    before = snapshot(media_root)
    response = api.post("/api/systems/gen2/videos", {"prompt_set": "s", "file": upload("gen2.zip", archive)})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert snapshot(media_root) == before


def test_it_names_an_unknown_system_or_prompt_set(api, set_with_prompts):
    System.objects.create(name="gen2", kind="external")
    missing = api.post("/api/systems/ghost/videos", {"prompt_set": "s", "file": upload("v.zip", b"")})
    assert missing.status_code == 404 and missing.json() == {"error": "no system named 'ghost'"}
    no_set = api.post("/api/systems/gen2/videos", {"prompt_set": "nope", "file": upload("v.zip", b"")})
    assert no_set.status_code == 400 and "no prompt set named 'nope'" in no_set.json()["error"]


def test_it_keeps_csrf_for_session_requests(client, researcher):
    client.handler.enforce_csrf_checks = True
    client.force_login(researcher)
    response = client.post("/api/prompt-sets", {"name": "x", "file": upload("p.txt", "a\n")})
    assert response.status_code == 403 and response.json() == {"error": "CSRF check failed"}
    assert not PromptSet.objects.exists()
