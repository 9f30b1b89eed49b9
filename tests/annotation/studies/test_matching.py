"""A study's matching end to end: items matched on PostgreSQL with real ffmpeg, the study opening when ready,
encodes shared across items and studies, failures shown to the researcher who retries or drops them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import ffmpeg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from annotation.models import Item, Study
from annotation.studies.matching import studies_refresh, study_match
from annotation.studies.services import StudyError, item_drop
from generation.models import MatchedVideo
from juice.celery import app
from tests.support import ROOT
from tests.support.builders import add_video, create_study, external_system, prompt_set


def three_systems(clips: dict[str, Path], *, prompts: int = 2, same_format: bool = False):
    """Systems A, B, C with a video for every prompt; with `same_format` all three share one format."""
    ps = prompt_set(count=prompts)
    systems = [external_system(n) for n in "ABC"]
    formats = ["same"] * 3 if same_format else ["wide", "square", "same"]
    for system, fmt in zip(systems, formats, strict=True):
        for prompt in ps.prompts.all():
            add_video(system, prompt, clips[fmt])
    return ps, systems


def all_pairs(systems):
    a, b, c = systems
    return [(a, b), (a, c), (b, c)]


def test_it_matches_every_item_then_opens_the_study(db, eager, clips, django_capture_on_commit_callbacks):
    ps, systems = three_systems(clips)

    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(name="s", prompt_set=ps, pairs=all_pairs(systems), matching={"duration": "loop"})

    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    assert study.matching == {"aspect": "crop", "resolution": None, "fps": None, "duration": "loop"}
    for item in study.items.select_related("matched_a", "matched_b"):
        assert item.status == Item.Status.READY
        a, b = item.matched_a, item.matched_b
        assert (a.width, a.height, a.fps, a.frame_count) == (b.width, b.height, b.fps, b.frame_count)
        assert Path(a.file.path).is_file() and Path(b.file.path).is_file()
        # Every parameter used is recorded with the item.
        assert set(item.matching_params) == {"policy", "target", "a", "b"}
        assert item.matching_params["target"]["width"] == a.width
    # The wide 16 fps clip against the 8 fps gif: 8 fps, 1 s, the longer one's length (loop).
    gif_pair = study.items.filter(pair__system_a__name="A", pair__system_b__name="B").first()
    assert gif_pair.matching_params["target"] | {"duration": None} == {
        "width": 48, "height": 48, "fps": "8", "frames": 12, "duration": None, "fit": "crop",
    }


def test_attention_items_are_mixed_in_before_the_study_opens(db, eager, clips, django_capture_on_commit_callbacks):
    ps, systems = three_systems(clips, prompts=3, same_format=True)

    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(name="s", prompt_set=ps, pairs=all_pairs(systems)[:1], attention_items=2, attention_threshold=0.8)

    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    attention = study.items.filter(is_attention=True).select_related("matched_a", "matched_b")
    assert attention.count() == 2
    for item in attention:
        assert item.status == Item.Status.READY and item.expected in {"a", "b"}
        frozen = item.matched_b if item.expected == "a" else item.matched_a
        assert Path(frozen.file.path).is_file()
        assert frozen.frame_count == (item.matched_a if item.expected == "a" else item.matched_b).frame_count


def test_it_encodes_a_source_once_per_target_across_items_and_studies(db, eager, clips, django_capture_on_commit_callbacks):
    ps, systems = three_systems(clips, same_format=True)

    with django_capture_on_commit_callbacks(execute=True):
        first = create_study(name="first", prompt_set=ps, pairs=all_pairs(systems))
    # 3 pairs x 2 prompts x 2 sides = 12 sides, but each of the 6 sources needs one target only.
    assert MatchedVideo.objects.count() == 6
    encoded = {m.pk: (m.file.name, m.sha256) for m in MatchedVideo.objects.all()}

    with django_capture_on_commit_callbacks(execute=True):
        second = create_study(name="second", prompt_set=ps, pairs=all_pairs(systems)[:1])

    assert {m.pk: (m.file.name, m.sha256) for m in MatchedVideo.objects.all()} == encoded
    assert Study.objects.filter(pk__in=[first.pk, second.pk], status=Study.Status.OPEN).count() == 2
    assert Item.objects.filter(study=second, status=Item.Status.READY).count() == 2


def test_it_reencodes_nothing_when_the_task_runs_again(db, eager, clips, django_capture_on_commit_callbacks):
    from annotation.tasks import match_study
    from generation.tasks import match_video

    ps, systems = three_systems(clips, prompts=1)
    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(name="s", prompt_set=ps, pairs=all_pairs(systems)[:1])
    before = list(MatchedVideo.objects.values_list("pk", "sha256", "status"))

    # A re-delivered message finds the work done.
    assert match_study(study.pk) == 0
    assert match_video(before[0][0]) is False
    assert list(MatchedVideo.objects.values_list("pk", "sha256", "status")) == before


def corrupt(path: Path, tmp_path: Path) -> Path:
    """A copy of `path` cut in half: the moov box at its end is gone."""
    broken = tmp_path / f"broken{path.suffix}"
    data = path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    return broken


@pytest.fixture
def study_with_corrupt_source(db, eager, clips, tmp_path, django_capture_on_commit_callbacks):
    ps = prompt_set(count=3)
    a, b = external_system("A"), external_system("B")
    prompts = list(ps.prompts.all())
    for prompt in prompts:
        add_video(a, prompt, clips["wide"])
        if prompt.key == "p0002":
            add_video(b, prompt, corrupt(clips["same"], tmp_path), probe_like=clips["same"])
        else:
            add_video(b, prompt, clips["same"])
    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(name="s", prompt_set=ps, pairs=[(a, b)])
    study.refresh_from_db()
    return study


def test_a_corrupt_source_fails_its_item_with_a_readable_error_and_the_rest_proceed(study_with_corrupt_source):
    study = study_with_corrupt_source

    statuses = dict(study.items.values_list("prompt__key", "status"))
    assert statuses == {"p0001": "ready", "p0002": "failed", "p0003": "ready"}
    failed = study.items.get(status=Item.Status.FAILED)
    assert failed.error.startswith("B/p0002: ffmpeg: ")
    assert "moov atom not found" in failed.error or "Invalid data" in failed.error
    assert study.status == Study.Status.PREPARING, "a failed item holds the study until it is retried or dropped"


def test_the_researcher_sees_the_error_and_drops_the_item(study_with_corrupt_source, researcher_client, django_capture_on_commit_callbacks):
    study = study_with_corrupt_source
    failed = study.items.get(status=Item.Status.FAILED)

    page = researcher_client.get(reverse("study-matching", args=[study.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "2 of 3 items ready" in html and "B/p0002: ffmpeg:" in html
    assert reverse("study-matching-retry", args=[study.slug, failed.pk]) in html and "csrfmiddlewaretoken" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(reverse("study-matching-drop", args=[study.slug, failed.pk]))

    assert response.status_code == 302
    failed.refresh_from_db()
    study.refresh_from_db()
    assert failed.status == Item.Status.DROPPED and study.status == Study.Status.OPEN


def test_the_researcher_fixes_the_source_and_retries(
    study_with_corrupt_source, researcher_client, clips, django_capture_on_commit_callbacks
):
    study = study_with_corrupt_source
    failed = study.items.select_related("video_b").get(status=Item.Status.FAILED)
    shutil.copyfile(clips["same"], failed.video_b.file.path)

    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(reverse("study-matching-retry", args=[study.slug, failed.pk]))

    assert response.status_code == 302
    failed.refresh_from_db()
    study.refresh_from_db()
    assert failed.status == Item.Status.READY and failed.error == ""
    assert study.status == Study.Status.OPEN
    item_drop(item=failed)  # a ready item may be dropped too (a rater reported it)
    with pytest.raises(StudyError, match="was dropped already"):
        item_drop(item=failed)


def test_the_matching_page_is_for_researchers_only(study_with_corrupt_source, client):
    study = study_with_corrupt_source
    failed = study.items.get(status=Item.Status.FAILED)

    assert client.get(reverse("study-matching", args=[study.slug])).status_code == 302
    assert client.post(reverse("study-matching-drop", args=[study.slug, failed.pk])).status_code == 302
    failed.refresh_from_db()
    assert failed.status == Item.Status.FAILED


def test_a_policy_that_cannot_apply_writes_nothing(db, clips):
    ps, systems = three_systems(clips, prompts=1)

    with pytest.raises(StudyError, match=r"matching A/p0001 with B/p0001: fps: 12 is above a source's frame rate \(8 fps\)"):
        create_study(name="s", prompt_set=ps, pairs=all_pairs(systems), matching={"fps": 12})
    with pytest.raises(StudyError, match="matching: resolution: 'huge' is not WIDTHxHEIGHT"):
        create_study(name="s", prompt_set=ps, pairs=all_pairs(systems), matching={"resolution": "huge"})
    assert not Study.objects.exists() and not Item.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_create_study_prints_the_join_link_of_the_open_study(eager, clips, capsys):
    ps, _ = three_systems(clips, prompts=1)

    call_command("create_study", "Q1", "--prompt-set", ps.name, "--pair", "A", "B", "--pair", "A", "C", "--aspect", "pad", "--fps", "8")

    study = Study.objects.get(name="Q1")
    out = capsys.readouterr().out
    assert study.status == Study.Status.OPEN and "is open" in out
    assert f"/s/{study.slug}/join" in out
    assert study.matching["aspect"] == "pad" and study.matching["fps"] == "8"

    with pytest.raises(CommandError, match="pair 1: no system named 'Z'"):
        call_command("create_study", "Q2", "--prompt-set", ps.name, "--pair", "A", "Z")
    with pytest.raises(CommandError, match="aspect: 'oval' is not crop, pad or a ratio"):
        call_command("create_study", "Q2", "--prompt-set", ps.name, "--pair", "A", "B", "--aspect", "oval")
    assert not Study.objects.filter(name="Q2").exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_media_worker_matches_the_study_and_opens_it(clips, media_root, capsys):
    """A real Celery worker on the media queue, two encodes at a time, against the test database;
    `create_study --wait` blocks with a progress bar until the study opens."""
    assert not app.conf.task_always_eager, "this test needs CELERY_BROKER_URL"
    ps, _ = three_systems(clips)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("media")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{connection.settings_dict['USER']}@{connection.settings_dict['HOST']}:"
        f"{connection.settings_dict['PORT']}/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(media_root),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "juice", "worker", "-Q", "media", "-c", "2", "-l", "warning",
         "--without-mingle", "--without-gossip", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        pairs = ["--pair", "A", "B", "--pair", "A", "C", "--pair", "B", "C"]
        call_command("create_study", "queued", "--prompt-set", ps.name, *pairs, "--wait", "--timeout", "90")
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    study = Study.objects.get(name="queued")
    assert study.status == Study.Status.OPEN, output
    out, err = capsys.readouterr()
    assert f"/s/{study.slug}/join" in out and "matching: 100%" in err and "6/6" in err
    assert set(study.items.values_list("status", flat=True)) == {Item.Status.READY}
    for m in MatchedVideo.objects.all():
        stream = ffmpeg.probe(m.file.path)["streams"][0]
        assert stream["codec_name"] == "h264" and m.status == MatchedVideo.Status.READY
    assert "Traceback" not in output


def test_with_a_broker_create_study_queues_matching_and_wait_can_give_up(db, clips, capsys):
    assert not app.conf.task_always_eager, "this test needs CELERY_BROKER_URL"
    ps, _ = three_systems(clips, prompts=1)

    # Inside the test's transaction nothing is committed, so nothing reaches the broker: no worker runs.
    call_command("create_study", "later", "--prompt-set", ps.name, "--pair", "A", "B")
    with pytest.raises(CommandError, match=r"1 items still matching after 0.5 s; are media workers running"):
        call_command("create_study", "waits", "--prompt-set", ps.name, "--pair", "A", "B", "--wait", "--timeout", "0.5")

    out = capsys.readouterr().out
    study = Study.objects.get(name="later")
    assert "matching queued on the media workers" in out and f"/s/{study.slug}/join" in out
    assert study.status == Study.Status.PREPARING


def test_an_encode_that_finds_the_disk_full_says_so_and_retry_finishes_the_study(
    eager, clips, researcher_client, monkeypatch, django_capture_on_commit_callbacks
):
    """A full disk is the operator's to fix: the item says so, and Retry on the page finishes the study."""
    import errno

    from generation.matching import encodes

    ps, systems = three_systems(clips, prompts=1)
    encode = encodes.encode_file

    def no_space(source, spec, output, **options):
        raise OSError(errno.ENOSPC, "No space left on device", str(output))

    monkeypatch.setattr(encodes, "encode_file", no_space)
    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(name="full", prompt_set=ps, pairs=all_pairs(systems)[:1])
    failed = study.items.get()
    assert failed.status == Item.Status.FAILED
    assert "no space left on device under MEDIA_ROOT: free some space, then Retry" in failed.error
    page = researcher_client.get(reverse("study-matching", args=[study.slug])).content.decode()
    assert "no space left on device" in page and "Retry" in page
    assert not list(Path(settings.MEDIA_ROOT, "matched").rglob("*.part*"))  # nothing half-written is left

    monkeypatch.setattr(encodes, "encode_file", encode)  # space is back
    with django_capture_on_commit_callbacks(execute=True):
        researcher_client.post(reverse("study-matching-retry", args=[study.slug, failed.pk]))
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN and study.items.get().status == Item.Status.READY


def test_retry_resends_an_encode_whose_worker_was_lost_and_not_one_still_running(
    eager, clips, researcher_client, django_capture_on_commit_callbacks
):
    """A running encode whose worker stopped beating JUICE_STALE_SECONDS ago is stuck: the matching page
    says so, and Retry sends it again (claimed afresh, encoded once); one whose worker beats is left alone."""
    ps, systems = three_systems(clips, prompts=1)
    with django_capture_on_commit_callbacks(execute=False):  # no media worker yet: both encodes stay pending
        study = create_study(name="stuck", prompt_set=ps, pairs=all_pairs(systems)[:1])
        study_match(study_id=study.pk)
    item = study.items.get()
    now, long_ago = timezone.now(), timezone.now() - timedelta(hours=1)
    # Both claimed an hour ago and queued just now; only the first one's worker stopped beating.
    running = {"status": MatchedVideo.Status.RUNNING, "started_at": long_ago, "queued_at": now}
    MatchedVideo.objects.filter(pk=item.matched_a_id).update(**running, heartbeat_at=long_ago)
    MatchedVideo.objects.filter(pk=item.matched_b_id).update(**running, heartbeat_at=now)

    page = researcher_client.get(reverse("study-matching", args=[study.slug])).content.decode()
    assert "1 encode queued over" in page and "left running by a lost media worker" in page
    # Which item waits on which encode, since when; the stuck one marked.
    assert f"side A: encode {item.matched_a_id}, running (waiting too long)" in page
    assert f"side B: encode {item.matched_b_id}, running<" in page and f"{long_ago:%Y-%m-%d %H:%M:%S} UTC" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(reverse("study-matching-resend", args=[study.slug]), follow=True)
    assert "Sent 1 encode to the media workers again." in response.content.decode()
    lost, alive = MatchedVideo.objects.get(pk=item.matched_a_id), MatchedVideo.objects.get(pk=item.matched_b_id)
    assert lost.status == MatchedVideo.Status.READY and Path(lost.file.path).is_file()
    assert alive.status == MatchedVideo.Status.RUNNING and alive.started_at == long_ago
    study.refresh_from_db()
    assert study.status == Study.Status.PREPARING  # the item still waits on the encode that is alive


@pytest.mark.django_db
def test_beat_resends_a_stuck_encode_at_once_and_a_lost_one_once_only_its_own_tasks_wait(
    clips, empty_queues, django_capture_on_commit_callbacks
):
    """celery beat's studies_refresh runs on the media queue beside the other periodic tasks beat sends
    there at the same moment: an encode whose worker was killed is sent again whatever waits in the
    queue (its message is gone with the worker), once per JUICE_STALE_SECONDS; a queued one is taken
    for lost, and sent again, only when nothing but beat's own tasks waits (it used to wait for an
    empty queue, which beat's own tasks kept from happening: encodes stranded for minutes)."""
    from annotation.tasks import leases_expire, studies_refresh_all
    from generation.tasks import requeue_stale_jobs
    from juice.queue import queue_length
    from tests.support.workers import queues_empty

    ps, systems = three_systems(clips, prompts=1)
    with django_capture_on_commit_callbacks(execute=False):  # no broker message yet
        study = create_study(name="stranded", prompt_set=ps, pairs=all_pairs(systems)[:1])
        study_match(study_id=study.pk)
    item = study.items.get()
    long_ago = timezone.now() - timedelta(hours=1)
    MatchedVideo.objects.filter(pk=item.matched_a_id).update(
        status=MatchedVideo.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago, queued_at=long_ago)
    MatchedVideo.objects.filter(pk=item.matched_b_id).update(queued_at=long_ago)  # its message was lost

    def beat_tick() -> None:
        for task in (leases_expire, studies_refresh_all, requeue_stale_jobs):
            task.delay()

    def sent(ids) -> set[int]:
        return {m for m in ids if MatchedVideo.objects.get(pk=m).queued_at > long_ago}

    beat_tick()
    for _ in range(5):  # encodes of another study still wait: the media queue is busy
        leases_expire.delay()
    with django_capture_on_commit_callbacks(execute=True):
        studies_refresh()
    assert sent([item.matched_a_id, item.matched_b_id]) == {item.matched_a_id}
    assert queue_length("media") == 3 + 5 + 1
    with django_capture_on_commit_callbacks(execute=True):
        studies_refresh()  # a minute later, the stuck one's message still waits: not sent twice
    assert queue_length("media") == 3 + 5 + 1

    queues_empty()
    beat_tick()  # only beat's own tasks wait now: the lost message is sent again
    with django_capture_on_commit_callbacks(execute=True):
        studies_refresh()
    assert sent([item.matched_b_id]) == {item.matched_b_id}
    assert queue_length("media") == 3 + 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_study_whose_media_worker_was_killed_mid_encode_opens_once_a_new_worker_runs(
    media_root, tmp_path, settings, monkeypatch, empty_queues
):
    """kill -9 of the media worker in the middle of an encode: its heartbeat stops, the encode is found
    stuck and sent again (what celery beat's studies_refresh does), a new worker encodes it once and the
    study opens. Short stale and heartbeat settings here and in the workers (tests/support/workers.py)."""
    from tests.support.media import make_video
    from tests.support.workers import wait_for, worker

    settings.JUICE_STALE_SECONDS, settings.JUICE_HEARTBEAT_SECONDS, settings.JUICE_LOST_SECONDS = 3, 1, 1
    monkeypatch.setenv("JUICE_FFMPEG_THREADS", "1")  # seconds per encode: long enough to kill it in the middle
    ps = prompt_set(count=1)
    source = make_video(tmp_path / "long.mp4", width=1280, height=720, fps=24, seconds=30)
    systems = [external_system(name) for name in "AB"]
    for system in systems:
        add_video(system, ps.prompts.get(), source)
    log = tmp_path / "worker.log"

    with worker(media_root, log, queues="media") as first:
        study = create_study(name="killed", prompt_set=ps, pairs=[tuple(systems)])
        # The encode's first heartbeat after its claim: ffmpeg is running.
        mid_encode = MatchedVideo.objects.filter(status=MatchedVideo.Status.RUNNING, heartbeat_at__gt=F("started_at"))
        wait_for(mid_encode.exists, 90, "an encode's first heartbeat", log)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    stuck = mid_encode.get()
    killed_claim = stuck.started_at
    study.refresh_from_db()
    assert study.status == Study.Status.PREPARING and stuck.status == MatchedVideo.Status.RUNNING

    def opened() -> bool:
        studies_refresh()  # celery beat's backstop, every minute in production
        return Study.objects.filter(pk=study.pk, status=Study.Status.OPEN).exists()

    with worker(media_root, log, queues="media"):
        wait_for(opened, 180, "the study to open", log)

    matched = list(MatchedVideo.objects.all())
    assert len(matched) == 2 and {m.status for m in matched} == {MatchedVideo.Status.READY}
    stuck.refresh_from_db()
    assert stuck.started_at > killed_claim  # claimed again by the new worker
    files = sorted(p for p in (media_root / "matched").rglob("*") if p.is_file())
    assert files == sorted(Path(m.file.path) for m in matched), files  # each encoded once; nothing half-written left
