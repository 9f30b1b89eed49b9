"""The media browser of a prompt set: each prompt with every system's video, playable (with Range),
its probed format and seed, and a factorized video's first frame; researchers only."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from generation.models import System, Video
from tests.support.builders import add_video, external_system, prompt_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def browsed(clip):
    ps = prompt_set(count=3)
    first, second, third = ps.prompts.order_by("position")
    ps.prompts.filter(pk=first.pk).update(text="a <script>cat</script>")
    a, b = external_system("<b>Alpha</b>"), System.objects.create(name="Emu", kind="generated", pipeline="factorized", model="m")
    for prompt in (first, second, third):
        add_video(a, prompt, clip)
    video = add_video(b, first, clip)
    Video.objects.filter(pk=video.pk).update(seed=42, first_frame="first_frames/emu-p0001.png")
    frame = Path(video.file.storage.path("first_frames/emu-p0001.png"))
    frame.parent.mkdir(parents=True, exist_ok=True)
    frame.write_bytes(b"\x89PNG fake")
    return ps, video


def test_each_prompt_shows_every_systems_video_with_its_figures(researcher_client, browsed):
    ps, emu_video = browsed
    page = researcher_client.get(reverse("prompt-set-media", args=[ps.pk])).content.decode()
    assert '<th scope="col">&lt;b&gt;Alpha&lt;/b&gt;</th><th scope="col">Emu</th>' in page
    assert "a &lt;script&gt;cat&lt;/script&gt;" in page and "<script>cat" not in page
    assert page.count("<video controls loop muted") == 4 and page.count("no video") == 2
    assert "64x48 · 8 fps · 8 frames · 1 s · h264 · seed 42" in page
    assert f'src="{reverse("video-first-frame", args=[emu_video.pk])}"' in page
    assert reverse("prompt-set-media", args=[ps.pk]) in researcher_client.get(reverse("prompt-sets")).content.decode()


def test_a_source_video_plays_with_range_requests(researcher_client, browsed):
    _, video = browsed
    url = reverse("video-file", args=[video.pk])
    whole = researcher_client.get(url)
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4" and "Content-Disposition" not in whole
    size = video.file.size
    part = researcher_client.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 10-19/{size}" and len(b"".join(part.streaming_content)) == 10
    client = Client()
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(get_user_model().objects.create_user("rater", password="rater-password-1"))
    assert client.get(url).status_code == 403
    assert client.get(reverse("prompt-set-media", args=[browsed[0].pk])).status_code == 403


def test_a_prompt_set_without_videos_says_where_to_get_them(researcher_client):
    ps = prompt_set(name="empty <set>", count=1)
    page = researcher_client.get(reverse("prompt-set-media", args=[ps.pk])).content.decode()
    assert "No system has a video for this prompt set yet" in page and "?prompt_set=empty%20%3Cset%3E" in page
