"""Serving matched videos: opaque per-study URLs, HTTP Range with 206 so browsers can seek."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from annotation.models import Study
from tests.support.builders import add_video, create_study, external_system, prompt_set


def open_study(name: str, clip: Path, capture) -> Study:
    ps = prompt_set(name=f"{name}-prompts", count=1)
    sys_a, sys_b = external_system(f"{name}-secret-model-a"), external_system(f"{name}-secret-model-b")
    prompt = ps.prompts.get()
    add_video(sys_a, prompt, clip)
    add_video(sys_b, prompt, clip)
    with capture(execute=True):
        study = create_study(name=name, prompt_set=ps, pairs=[(sys_a, sys_b)])
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    return study


@pytest.fixture
def study(db, eager, clip, django_capture_on_commit_callbacks) -> Study:
    return open_study("s1", clip, django_capture_on_commit_callbacks)


def side(study: Study) -> tuple[str, bytes]:
    item = study.items.select_related("matched_a").get()
    return reverse("study-video", args=[study.slug, item.token_a]), Path(item.matched_a.file.path).read_bytes()


def test_it_serves_the_whole_file_without_a_range(client, study):
    url, data = side(study)

    response = client.get(url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "video/mp4" and response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None), ("bytes=10-999999", 10, None)],
)
def test_it_answers_a_range_with_206_and_its_content_range(client, study, header, first, last):
    url, data = side(study)
    size = len(data)
    start = first if first >= 0 else size + first
    end = size - 1 if last is None else last

    response = client.get(url, HTTP_RANGE=header)

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert response["Content-Length"] == str(end - start + 1)
    assert b"".join(response.streaming_content) == data[start : end + 1]


def test_it_refuses_a_range_past_the_end_with_416(client, study):
    url, data = side(study)

    response = client.get(url, HTTP_RANGE=f"bytes={len(data)}-")

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(data)}"


def test_a_url_names_no_system_prompt_or_file(client, study):
    item = study.items.select_related("prompt", "video_a", "matched_a").get()
    url, _ = side(study)

    for secret in ("secret-model", item.prompt.key, Path(item.video_a.file.name).stem, Path(item.matched_a.file.name).stem, ".mp4"):
        assert secret not in url
    assert url == f"/s/{study.slug}/v/{item.token_a}"


def test_another_studys_token_or_a_guessed_one_is_not_found(client, study, clip, django_capture_on_commit_callbacks):
    other = open_study("s2", clip, django_capture_on_commit_callbacks)
    other_token = other.items.get().token_b

    assert client.get(reverse("study-video", args=[study.slug, other_token])).status_code == 404
    assert client.get(reverse("study-video", args=[study.slug, "x" * 16])).status_code == 404
    assert client.get(reverse("study-video", args=[other.slug, other_token])).status_code == 200


def test_a_study_still_being_matched_serves_nothing(client, study):
    url, _ = side(study)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PREPARING)

    assert client.get(url).status_code == 404


def test_behind_nginx_it_only_checks_the_token_and_hands_over_the_file(client, study, settings):
    settings.JUICE_MEDIA_ACCEL_REDIRECT = "/protected-media/"
    item = study.items.select_related("matched_a").get()
    url, _ = side(study)

    response = client.get(url, HTTP_RANGE="bytes=0-99")

    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{item.matched_a.file.name}"
    assert response["Content-Type"] == "video/mp4"
    for word in ("secret-model", item.prompt.key):
        assert word not in response["X-Accel-Redirect"]
    assert client.get(reverse("study-video", args=[study.slug, "x" * 16])).status_code == 404


def test_a_bad_accel_prefix_stops_the_start_with_one_line():
    from tests.support.commands import run_manage

    result = run_manage("check", JUICE_MEDIA_ACCEL_REDIRECT="protected")

    assert result.returncode != 0
    assert "JUICE_MEDIA_ACCEL_REDIRECT='protected' must start and end with '/'" in result.stderr
