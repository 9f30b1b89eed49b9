"""A running job's step ("step n of N"): the pipeline calls report their denoising steps, the worker
writes them to the job while it runs, and the generation page shows them."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from generation.jobs.queueing import generation_queue
from generation.jobs.worker import jobs_run
from generation.models import GenerationJob, System
from generation.pipelines.cache import PipelineCache, pipeline_cache, pipeline_key
from generation.pipelines.config import SystemConfig
from generation.pipelines.run import Request, videos_generate
from generation.systems.services import system_config
from generation.tiny import tiny_call_params, tiny_models_create
from tests.support.generation import SMALL, add_system, make_prompts

PROMPTS = [Request("a cat", 1), Request("a dog on a beach", 2)]


def reported(config: SystemConfig, requests: list[Request] = PROMPTS) -> list[tuple]:
    events: list[tuple] = []
    videos_generate(config=config, requests=requests, cache=PipelineCache(2),
                    progress=lambda phase, indices, step, total: events.append((phase, indices, step, total)))
    return events


def counted(phase: str, indices: list[int], steps: int) -> list[tuple]:
    """What one call of `steps` steps reports: its start, then step 1 to `steps` of `steps`."""
    return [(phase, indices, 0, 0)] + [(phase, indices, n, steps) for n in range(1, steps + 1)]


def test_a_batched_call_reports_each_step_for_all_its_prompts(tiny_models):
    params = {**tiny_call_params("text-to-video"), "num_inference_steps": 3}
    config = SystemConfig(pipeline="LTXPipeline", model=str(tiny_models["text-to-video"]), params=params)
    # One system, one pipeline: no phase named.
    assert reported(config) == counted("", [0, 1], 3)


def test_a_factorized_system_reports_its_first_frame_and_video_phases(tiny_models):
    params = {**tiny_call_params("image-to-video"), "num_inference_steps": 3,
              "image": {"num_inference_steps": 2, "scheduler": {"class": "DDIMScheduler"}}}
    config = SystemConfig(pipeline="factorized", model=str(tiny_models["image-to-video"]), params=params,
                          image_pipeline="StableDiffusionPipeline", image_model=str(tiny_models["text-to-image"]),
                          video_pipeline="LTXImageToVideoPipeline")
    assert reported(config) == counted("first frame", [0, 1], 2) + counted("video", [0, 1], 3)


@pytest.fixture(scope="module")
def older_callback(tmp_path_factory):
    """Tiny checkpoints of classes that only have the older `callback`: a video pipeline and the x4 upscaler."""
    return tiny_models_create(directory=tmp_path_factory.mktemp("tiny-older-callback"), only=("text-to-video-sd", "x4-upscaler"))


def test_a_class_with_only_the_older_callback_reports_its_steps(older_callback):
    params = {**tiny_call_params("text-to-video-sd"), "num_inference_steps": 3, "batch_size": 1}
    config = SystemConfig(pipeline="TextToVideoSDPipeline", model=str(older_callback["text-to-video-sd"]), params=params)
    # One call per chunk of one prompt: the second job waits at 0 while the first one runs.
    assert reported(config) == counted("", [0], 3) + counted("", [1], 3)


def test_a_diffusers_upscaler_reports_its_own_phase(tiny_models, older_callback):
    params = {**tiny_call_params("text-to-video"), "num_inference_steps": 3, "upscale": "StableDiffusionUpscalePipeline",
              "upscale_model": str(older_callback["x4-upscaler"]), "upscale_args": {"num_inference_steps": 2}}
    config = SystemConfig(pipeline="LTXPipeline", model=str(tiny_models["text-to-video"]), params=params)
    # 9 frames: two upscaler calls (UPSCALE_FRAMES_PER_CALL), each counting its own steps.
    upscale = [("upscale", [0], 0, 0)] + 2 * [("upscale", [0], n, 2) for n in (1, 2)]
    assert reported(config, PROMPTS[:1]) == counted("video", [0], 3) + upscale


@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_the_step_to_the_job_while_the_pipeline_runs(tiny_models, settings, monkeypatch, eager):
    """Read from inside the pipeline call: before denoising step k + 1 the job shows "step k of N"."""
    settings.JUICE_PROGRESS_SECONDS = 0.02
    steps = 4
    add_system("ltx", "--pipeline", "LTXPipeline", "--model", str(tiny_models["text-to-video"]), *SMALL,
               "--param", f"num_inference_steps={steps}")
    system = System.objects.get(name="ltx")
    prompt = make_prompts("set", ["a cat"]).prompts.get()
    job_id = GenerationJob.objects.create(system=system, prompt=prompt, seed=1).pk  # as queued, without a message
    params = system_config(system).params
    scheduler = pipeline_cache().get(pipeline_key("LTXPipeline", str(tiny_models["text-to-video"]), params)).scheduler
    scheduler_step, seen = scheduler.step, []

    def step(*args, **kwargs):
        done = len(seen)
        if done:  # the steps before this one are done; the heartbeat thread writes them within moments
            job = GenerationJob.objects.filter(pk=job_id, step=done)
            deadline = time.monotonic() + 10
            while not job.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        seen.append(GenerationJob.objects.values_list("status", "step", "step_count").get(pk=job_id))
        return scheduler_step(*args, **kwargs)

    monkeypatch.setattr(scheduler, "step", step)
    assert jobs_run(job_ids=[job_id]) == 1
    assert seen == [("running", 0, 0)] + [("running", k, steps) for k in range(1, steps)]
    job = GenerationJob.objects.get(pk=job_id)
    # The call's last step is written before the job moves on (here, eagerly, through encoding to done).
    assert (job.status, job.step, job.step_count, job.step_phase) == ("done", steps, steps, "")


@pytest.mark.django_db
def test_the_page_shows_each_running_jobs_step(researcher_client, tiny_models):
    add_system("emu", "--pipeline", "factorized", "--model", str(tiny_models["image-to-video"]),
               "--image-model", str(tiny_models["text-to-image"]), *SMALL)
    system = System.objects.get(name="emu")
    prompt_set = make_prompts("set", ["a cat", "a dog", "a bird"])
    first, second, _queued = generation_queue(system=system, prompt_set=prompt_set).job_ids
    GenerationJob.objects.filter(pk=first).update(status="running", step=3, step_count=16, step_phase="video")
    GenerationJob.objects.filter(pk=second).update(status="running", sample=1)  # started, no step reported yet
    page = researcher_client.get(reverse("generation-status")).content.decode()
    assert '<code>p0001</code> video: <span class="step">step 3 of 16</span>' in page
    assert '<code>p0002 (sample 1)</code> <span class="step">running</span>' in page
    assert "p0003" not in page  # still queued: no step to show
    assert "juice/live.js" in page  # the page refreshes itself while jobs run
