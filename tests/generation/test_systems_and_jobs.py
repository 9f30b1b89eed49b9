"""The generation service in-process: systems, validation, jobs, encoding, progress, recovery, pages.

Tasks run eagerly here (as without a broker); tests/generation/test_worker.py runs real workers.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from io import BytesIO, StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from PIL import Image

from generation.encode import video_encode, video_frames
from generation.jobs.progress import generation_progress
from generation.jobs.queueing import MAX_ATTEMPTS, generation_queue
from generation.jobs.reconcile import jobs_requeue_stale
from generation.models import GenerationJob, System, Video
from generation.pipelines.cache import PipelineCache, PipelineKey
from generation.pipelines.config import SystemConfig
from generation.pipelines.run import Request, videos_generate
from generation.probe import probe_video
from juice.celery import app
from juice.files import file_sha256
from tests.support.generation import SMALL, add_system, make_prompts


def generate(*args: str) -> str:
    """The command with tasks in-process: they run when its transaction commits (tests using it are transactional)."""
    out = StringIO()
    call_command("generate", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


# -- systems and their validation ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_adds_generated_factorized_and_external_systems(tiny_models):
    out = add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL,
                     "--param", "scheduler.shift=3.0")
    assert "Added system ltx: LTXPipeline" in out
    ltx = System.objects.get(name="ltx")
    assert ltx.kind == "generated" and ltx.params["num_frames"] == 9 and ltx.params["scheduler"] == {"shift": 3.0}

    out = add_system(
        "emu", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
        "--image-model", str(tiny_models["text-to-image"]), *SMALL,
        "--param", "image.num_inference_steps=2", "--param", "image.scheduler.rescale_betas_zero_snr=true",
        "--param", "image.scheduler.timestep_spacing=trailing", "--param", "image.scheduler.prediction_type=v_prediction",
    )
    emu = System.objects.get(name="emu")
    # The classes come from each model's model_index.json when not named.
    assert (emu.pipeline, emu.image_pipeline, emu.video_pipeline) == ("factorized", "StableDiffusionPipeline", "LTXImageToVideoPipeline")
    assert emu.params["image"]["scheduler"] == {
        "rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "prediction_type": "v_prediction",
    }
    assert "factorized" in out

    add_system("pika", "--external")
    assert System.objects.get(name="pika").kind == "external"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pipeline", "NoSuchPipeline"], "unknown diffusers pipeline class 'NoSuchPipeline'"),
        (["--pipeline", "LTXPipeline", "--param", "num_frame=9"], "unknown parameter(s) num_frame for LTXPipeline"),
        (["--pipeline", "LTXPipeline", "--param", "scheduler.no_such_key=1"],
         "scheduler: unknown key(s) no_such_key for FlowMatchEulerDiscreteScheduler"),
        (["--pipeline", "LTXPipeline", "--param", "scheduler.class=Nope"], "unknown diffusers scheduler class 'Nope'"),
        (["--pipeline", "LTXPipeline", "--param", "dtype=float8"], "dtype='float8': must be one of auto, bfloat16, float16, float32"),
        (["--pipeline", "LTXPipeline", "--param", "generator=3"], "unknown parameter(s) generator"),
        (["--pipeline", "LTXPipeline", "--param", "fps=0"], "fps=0: must be a number"),
        (["--pipeline", "StableDiffusionPipeline"], "makes images, not videos; use --pipeline factorized"),
        (["--pipeline", "factorized"], "needs --image-model"),
        (["--pipeline", "LTXPipeline", "--param", "image.num_inference_steps=2"], "only go with --pipeline factorized"),
    ],
)
def test_it_rejects_a_bad_configuration_with_a_clear_error(tiny_models, args, message):
    with pytest.raises(CommandError) as error:
        add_system("bad", "--model", str(tiny_models["text-to-video"]), *args)
    assert message in str(error.value)
    assert not System.objects.exists()


@pytest.mark.django_db
def test_it_rejects_a_factorized_system_whose_stages_do_not_fit(tiny_models):
    with pytest.raises(CommandError, match="LTXPipeline is not an image-to-video pipeline"):
        add_system("bad", "--pipeline", "factorized", "--model", str(tiny_models["text-to-video"]),
                   "--image-model", str(tiny_models["text-to-image"]))
    with pytest.raises(CommandError, match=r"image\.scheduler: unknown key"):
        add_system("bad", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
                   "--image-model", str(tiny_models["text-to-image"]), "--param", "image.scheduler.shift=2")
    with pytest.raises(CommandError, match="no such directory, and not a hub id"):
        add_system("bad", "--pipeline", "LTXPipeline", "--model", "/nowhere/model")
    assert not System.objects.exists()


def test_create_tiny_models_writes_loadable_pipelines(tmp_path):
    out = subprocess.run(
        [".venv/bin/python", "manage.py", "create_tiny_models", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr
    expected = {"text-to-video": "LTXPipeline", "image-to-video": "LTXImageToVideoPipeline", "text-to-image": "StableDiffusionPipeline"}
    for kind, cls in expected.items():
        assert str(tmp_path / "m" / kind) in out.stdout
        assert json.loads((tmp_path / "m" / kind / "model_index.json").read_text())["_class_name"] == cls


# -- generation in-process -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_generates_browser_playable_videos_with_their_seed(tiny_models, eager, media_root):
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL, "--param", "seed=100")
    make_prompts("set", ["a cat", "a dog on a beach", "a robot"])

    out = generate("--system", "ltx", "--prompt-set", "set", "--wait")
    assert "queued 3 job(s)" in out and "3 done, 0 failed of 3" in out

    videos = list(Video.objects.order_by("prompt__position"))
    assert [v.seed for v in videos] == [100, 101, 102]
    for video in videos:
        path = Path(video.file.path)
        info = probe_video(path)
        assert (info.width, info.height, info.frame_count, info.fps, info.codec) == (32, 32, 9, 8.0, "h264")
        assert (video.width, video.height, video.frame_count, video.fps, video.codec) == (32, 32, 9, 8.0, "h264")
        assert video.sha256 == file_sha256(path)
        pix = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=pix_fmt", "-of", "csv=p=0", str(path)],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert pix == "yuv420p"
        data = path.read_bytes()
        assert data.find(b"moov") < data.find(b"mdat"), "moov must come first (+faststart)"
    assert GenerationJob.objects.filter(status="done").count() == 3
    # Only the videos are left: no frames, no temporary files.
    assert sorted(p.suffix for p in media_root.rglob("*") if p.is_file()) == [".mp4"] * 3

    out = generate("--system", "ltx", "--prompt-set", "set")
    assert "queued 0 job(s), skipped 3" in out
    assert Video.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_it_animates_prompt_images_and_keeps_the_factorized_first_frame(
    tiny_models, eager, researcher_client
):
    add_system("i2v", "--pipeline", "LTXImageToVideoPipeline", "--model", str(tiny_models["image-to-video"]), *SMALL)
    add_system("emu", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
               "--image-model", str(tiny_models["text-to-image"]), *SMALL, "--param", "image.num_inference_steps=2",
               "--param", "image.scheduler.rescale_betas_zero_snr=true", "--param", "image.scheduler.timestep_spacing=trailing",
               "--param", "image.scheduler.prediction_type=v_prediction")
    make_prompts("plain", ["a cat", "a dog"])
    with pytest.raises(CommandError, match="animates the prompts' images, but 2 prompt"):
        generate("--system", "i2v", "--prompt-set", "plain")
    make_prompts("with-images", ["a cat", "a dog"], images=True)

    generate("--system", "i2v", "--prompt-set", "with-images", "--wait")
    generate("--system", "emu", "--prompt-set", "plain", "--wait")
    assert Video.objects.filter(system__name="i2v").count() == 2
    emu = list(Video.objects.filter(system__name="emu"))
    assert len(emu) == 2 and all(v.frame_count == 9 and v.width == 32 for v in emu)

    page = researcher_client.get("/generation/")
    assert page.status_code == 200
    for video in emu:
        url = f"/generation/videos/{video.pk}/first-frame"
        assert url in page.content.decode()
        response = researcher_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        image = Image.open(BytesIO(b"".join(response.streaming_content)))
        assert image.size == (32, 32)
    assert researcher_client.get(f"/generation/videos/{Video.objects.filter(system__name='i2v').first().pk}/first-frame").status_code == 404


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_frames_batched_or_not(tiny_models, tmp_path):
    params = {"num_frames": 9, "height": 32, "width": 32, "num_inference_steps": 2, "max_sequence_length": 16}
    prompts = ["a cat", "a dog", "a horse"]

    def run(seeds, batch_size):
        config = SystemConfig(pipeline="LTXPipeline", model=str(tiny_models["text-to-video"]), params={**params, "batch_size": batch_size})
        # A fresh cache: the second run reloads the model from disk, as a re-run on another worker would.
        return [o.frames for o in videos_generate(config=config, requests=[Request(p, s) for p, s in zip(prompts, seeds, strict=True)],
                                                  cache=PipelineCache(1))]

    first, again, batched, other = run([1, 2, 3], 1), run([1, 2, 3], 1), run([1, 2, 3], 3), run([7, 8, 9], 1)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a, b)
    for a, b in zip(first, batched, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2  # batched matmuls may round differently
    assert not np.array_equal(first[0], other[0])

    # And through the encoder: what a viewer decodes is the same for the same seed.
    video_encode(frames=first[0], path=tmp_path / "a.mp4", fps=8)
    video_encode(frames=again[0], path=tmp_path / "b.mp4", fps=8)
    assert np.array_equal(video_frames(tmp_path / "a.mp4"), video_frames(tmp_path / "b.mp4"))


def test_the_encoder_pads_odd_sizes_to_even(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (5, 33, 31, 3), dtype=np.uint8)
    video_encode(frames=frames, path=tmp_path / "odd.mp4", fps=12)
    info = probe_video(tmp_path / "odd.mp4")
    assert (info.width, info.height, info.frame_count, info.fps) == (32, 34, 5, 12.0)


def test_the_pipeline_cache_keeps_the_most_recently_used(tiny_models):
    cache = PipelineCache(1)
    t2v = PipelineKey("LTXPipeline", str(tiny_models["text-to-video"]), "auto")
    i2v = PipelineKey("LTXImageToVideoPipeline", str(tiny_models["image-to-video"]), "auto")
    first = cache.get(t2v)
    assert cache.get(t2v) is first and cache.loads == 1
    cache.get(i2v)
    assert cache.loads == 2
    assert cache.get(t2v) is not first and cache.loads == 3  # evicted by the other one

    zero_snr = PipelineKey("StableDiffusionPipeline", str(tiny_models["text-to-image"]), "auto",
                           json.dumps({"rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "prediction_type": "v_prediction"}))
    scheduler = cache.get(zero_snr).scheduler.config
    assert (scheduler.rescale_betas_zero_snr, scheduler.timestep_spacing, scheduler.prediction_type) == (True, "trailing", "v_prediction")


# -- failures, retries, recovery, progress ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failing_job_records_its_error_and_is_retried_a_bounded_number_of_times(
    tiny_models, eager, researcher_client, settings
):
    settings.JUICE_RETRY_DELAY_SECONDS = 0
    # 30 px is not a multiple of the model's 32: add_system refuses it, so it is set behind its back,
    # and every call fails inside diffusers.
    add_system("broken", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]),
               "--param", "height=32", "--param", "width=32", "--param", "num_frames=9", "--param", "num_inference_steps=1")
    System.objects.filter(name="broken").update(params={"num_frames": 9, "height": 30, "width": 30, "num_inference_steps": 1})
    make_prompts("set", ["a cat"])
    with pytest.raises(CommandError, match="1 video"):
        generate("--system", "broken", "--prompt-set", "set", "--wait")
    job = GenerationJob.objects.get()
    assert (job.status, job.attempts) == ("failed", MAX_ATTEMPTS)
    assert "divisible by 32" in job.error
    assert not Video.objects.exists()

    (progress,) = generation_progress()
    assert (progress.failed, progress.done, progress.errors[0][0]) == (1, 0, "p0001")
    page = researcher_client.get("/generation/").content.decode()
    assert "broken" in page and "divisible by 32" in page

    # Running generate again gives failed jobs a fresh start.
    System.objects.filter(name="broken").update(params={"num_frames": 9, "height": 32, "width": 32, "num_inference_steps": 1})
    generate("--system", "broken", "--prompt-set", "set", "--wait")
    job.refresh_from_db()
    assert job.status == "done" and job.error == "" and Video.objects.count() == 1


@pytest.mark.django_db
def test_jobs_of_a_lost_worker_are_requeued_then_given_up(tiny_models, django_capture_on_commit_callbacks):
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL)
    prompt_set = make_prompts("set", ["a cat", "a dog", "a bird"])
    system = System.objects.get()
    queued = generation_queue(system=system, prompt_set=prompt_set)
    old = timezone.now() - timedelta(hours=1)
    lost, hopeless, alive = queued.job_ids
    GenerationJob.objects.filter(pk=lost).update(status="running", attempts=1, worker="gone:1", heartbeat_at=old)
    GenerationJob.objects.filter(pk=hopeless).update(status="running", attempts=MAX_ATTEMPTS, worker="gone:1", heartbeat_at=old)
    GenerationJob.objects.filter(pk=alive).update(status="running", attempts=1, worker="here:1", heartbeat_at=timezone.now())

    with django_capture_on_commit_callbacks() as callbacks:
        assert jobs_requeue_stale(older_than=timedelta(minutes=5)) == 1
    assert len(callbacks) == 1  # one generate task, for the lost job
    jobs = {j.pk: j for j in GenerationJob.objects.all()}
    assert jobs[lost].status == "queued" and "worker gone:1 lost" in jobs[lost].error
    assert jobs[hopeless].status == "failed" and "lost" in jobs[hopeless].error
    assert jobs[alive].status == "running"


@pytest.mark.django_db(transaction=True)
def test_a_batch_goes_to_the_media_queue_as_one_message_and_a_repeated_delivery_stores_nothing_twice(
    tiny_models, media_root, empty_queues
):
    from generation.jobs.worker import jobs_run
    from generation.tasks import encode_video, encode_videos
    from juice.queue import queue_length

    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL, "--param", "batch_size=3")
    system = System.objects.get()
    queued = generation_queue(system=system, prompt_set=make_prompts("set", ["a cat", "a dog", "a bird"]))
    assert jobs_run(job_ids=queued.job_ids) == 3
    # On the real broker: one message for the batch, naming its three jobs.
    assert queue_length("media") == 1
    with app.connection_for_read() as connection:
        message = connection.default_channel.basic_get("media", no_ack=True)
    args, _kwargs, _embed = message.decode()
    assert (message.headers["task"], args) == ("generation.tasks.encode_videos", [queued.job_ids])
    assert set(GenerationJob.objects.values_list("status", flat=True)) == {"encoding"}

    assert encode_videos(queued.job_ids) == 3
    assert encode_videos(queued.job_ids) == 0  # a re-delivered message finds the jobs done
    encode_video(queued.job_ids[0])  # as an earlier version's message
    assert Video.objects.count() == 3 and set(GenerationJob.objects.values_list("status", flat=True)) == {"done"}
    assert sorted(p.suffix for p in media_root.rglob("*") if p.is_file()) == [".mp4"] * 3


@pytest.mark.django_db
def test_the_progress_page_is_for_researchers_only(client, django_user_model):
    assert client.get("/generation/").status_code == 302
    client.force_login(django_user_model.objects.create_user("rater", password="x-password-1"))
    assert client.get("/generation/").status_code == 403
