"""The generation service with real Celery worker processes on Redis, as in production.

A worker consumes both queues (`gpu` for generation, `media` for encoding) and sees the committed
rows of the test database; the test enqueues through the broker and reads what the worker wrote.
"""

from __future__ import annotations

import os
import signal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from generation.jobs.queueing import generation_queue
from generation.jobs.reconcile import jobs_requeue_stale
from generation.models import GenerationJob, System, Video
from generation.probe import probe_video
from tests.support.generation import SMALL, add_system, make_prompts
from tests.support.workers import wait_for, worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_queues")]

def test_a_worker_generates_text_to_video_image_to_video_and_factorized_systems(tiny_models, media_root, tmp_path):
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL)
    add_system("i2v", "--pipeline", "LTXImageToVideoPipeline", "--model", str(tiny_models["image-to-video"]), *SMALL,
               "--param", "fps=12")
    add_system("emu", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
               "--image-model", str(tiny_models["text-to-image"]), *SMALL, "--param", "image.num_inference_steps=2",
               "--param", "image.scheduler.rescale_betas_zero_snr=true", "--param", "image.scheduler.timestep_spacing=trailing",
               "--param", "image.scheduler.prediction_type=v_prediction")
    make_prompts("set", ["a cat", "a dog on a beach", "a robot dancing"], images=True)

    log = tmp_path / "worker.log"
    with worker(media_root, log):
        for system in ("ltx", "i2v", "emu"):
            out = StringIO()
            call_command("generate", "--system", system, "--prompt-set", "set", "--wait", "--poll", "0.2", stdout=out, stderr=StringIO())
            assert f"{system}: 3 done, 0 failed of 3" in out.getvalue(), log.read_text()[-4000:]

    assert Video.objects.count() == 9
    for video in Video.objects.select_related("system"):
        info = probe_video(video.file.path)
        fps = 12.0 if video.system.name == "i2v" else 8.0
        assert (info.width, info.height, info.frame_count, info.fps, info.codec) == (32, 32, 9, fps, "h264")
        assert (video.width, video.height, video.frame_count, video.fps) == (32, 32, 9, fps)
        assert video.seed is not None
        assert bool(video.first_frame) == (video.system.name == "emu")
    assert set(GenerationJob.objects.values_list("status", flat=True)) == {"done"}
    assert not [p for p in media_root.rglob("*") if p.name.startswith(".tmp") or p.suffix == ".npy"]


def test_a_job_of_a_killed_worker_completes_after_a_restart_exactly_once(tiny_models, media_root, tmp_path, settings):
    settings.JUICE_STALE_SECONDS = 3
    # Larger and more steps: the job lasts seconds, long enough to kill the worker in the middle.
    add_system("slow", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), "--param", "num_frames=17",
               "--param", "height=64", "--param", "width=64", "--param", "num_inference_steps=12", "--param", "max_sequence_length=16")
    prompt_set = make_prompts("set", ["a cat"])
    job_id = generation_queue(system=System.objects.get(), prompt_set=prompt_set).job_ids[0]
    log = tmp_path / "worker.log"

    with worker(media_root, log) as first:
        # The first heartbeat after the claim: the worker is inside the pipeline, in the middle of the job.
        mid_job = GenerationJob.objects.filter(pk=job_id, status="running", heartbeat_at__gt=F("started_at"))
        wait_for(mid_job.exists, 90, "the job's first heartbeat", log)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    job = GenerationJob.objects.get(pk=job_id)
    assert (job.status, job.attempts) == ("running", 1) and not Video.objects.exists()

    with worker(media_root, log):
        # The dead worker's job stops sending heartbeats and is found and put back in the queue.
        wait_for(lambda: jobs_requeue_stale() == 1, 30, "the lost job to be re-queued", log)
        wait_for(lambda: GenerationJob.objects.filter(pk=job_id, status="done").exists(), 120, "the job to finish", log)

    job = GenerationJob.objects.get(pk=job_id)
    assert job.attempts == 2 and "lost" not in job.error
    assert Video.objects.count() == 1 and job.video is not None
    files = [p for p in media_root.rglob("*") if p.is_file()]
    assert files == [Path(job.video.file.path)], files  # one video; no partial, temporary or frame files
    assert probe_video(files[0]).frame_count == 17


def test_a_worker_makes_several_samples_per_prompt_each_with_its_own_seed_and_file(tiny_models, media_root, tmp_path):
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL, "--param", "seed=7")
    make_prompts("set", ["a cat", "a dog on a beach"])

    log = tmp_path / "worker.log"
    with worker(media_root, log):
        out = StringIO()
        call_command("generate", "--system", "ltx", "--prompt-set", "set", "--samples", "2", "--wait", "--poll", "0.2",
                     stdout=out, stderr=StringIO())
        assert "queued 4 job(s)" in out.getvalue() and "ltx: 4 done, 0 failed of 4" in out.getvalue(), log.read_text()[-4000:]

    videos = list(Video.objects.order_by("prompt__position", "sample"))
    # Sample 0 keeps the seed of a single-sample run (base + position); sample k adds k * 1,000,000.
    assert [(v.prompt.key, v.sample, v.seed) for v in videos] == [
        ("p0001", 0, 7), ("p0001", 1, 1_000_007), ("p0002", 0, 8), ("p0002", 1, 1_000_008),
    ]
    assert [j.seed for j in GenerationJob.objects.order_by("prompt__position", "sample")] == [7, 1_000_007, 8, 1_000_008]
    assert len({v.file.name for v in videos}) == 4 and all(Path(v.file.path).is_file() for v in videos)
    # Different seeds, different videos.
    assert len({v.sha256 for v in videos}) == 4

    out = StringIO()
    call_command("generate", "--system", "ltx", "--prompt-set", "set", "--samples", "2", stdout=out)
    assert "queued 0 job(s), skipped 4" in out.getvalue()
    with pytest.raises(CommandError, match="samples must be from 1 to 100, not 0"):
        call_command("generate", "--system", "ltx", "--prompt-set", "set", "--samples", "0", stdout=StringIO())
