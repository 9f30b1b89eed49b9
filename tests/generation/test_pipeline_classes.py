"""Each supported pipeline class, from a tiny checkpoint built from configs: registered, generated for
two prompts through the real worker code, and checked as files; batched calls give the frames that
one-at-a-time calls give (same per-prompt seeds), whether or not the class batches."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from generation.encode import video_frames
from generation.models import Video
from generation.pipelines.cache import PipelineCache
from generation.pipelines.classes import pipeline_class
from generation.pipelines.config import SystemConfig
from generation.pipelines.run import Request, batches, videos_generate
from generation.probe import probe_video
from generation.tiny import tiny_call_params
from tests.support.generation import add_system, make_prompts

# tiny model name -> (class, height and width, batches prompts in one call)
CLASSES = {
    "text-to-video": ("LTXPipeline", 32, True),
    "image-to-video": ("LTXImageToVideoPipeline", 32, True),
    "ltx-condition": ("LTXConditionPipeline", 32, False),
    "wan": ("WanPipeline", 16, True),
    "wan-i2v": ("WanImageToVideoPipeline", 16, False),
    "cogvideox": ("CogVideoXPipeline", 16, True),
    "cogvideox-i2v": ("CogVideoXImageToVideoPipeline", 16, True),
    "svd": ("StableVideoDiffusionPipeline", 16, False),
    "animatediff": ("AnimateDiffPipeline", 32, True),
    "mochi": ("MochiPipeline", 16, True),
    "text-to-video-sd": ("TextToVideoSDPipeline", 32, True),
    "hunyuan-video": ("HunyuanVideoPipeline", 16, True),
}
TEXT_ONLY = {"text-to-video", "wan", "cogvideox", "animatediff", "mochi", "text-to-video-sd", "hunyuan-video"}
FRAMES = {"mochi": 7}  # Mochi: 1 + 6k
PROMPTS = ["a cat", "a dog on a beach"]


def params(name: str) -> dict:
    return {**tiny_call_params(name), "num_inference_steps": 2, "fps": 8}


@pytest.fixture
def images(tmp_path):
    paths = []
    for i in range(2):
        path = tmp_path / f"image{i}.png"
        from PIL import Image

        Image.fromarray(np.full((32, 32, 3), 60 + 120 * i, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("name", list(CLASSES))
def test_batched_calls_give_the_frames_of_one_at_a_time_calls(tiny_models_all, images, name):
    class_name, size, batched = CLASSES[name]
    assert batches(pipeline_class(class_name)) is batched
    cache = PipelineCache(1)
    needs_image = name not in TEXT_ONLY
    requests = [Request(p, seed=7 + i, image=images[i] if needs_image else None) for i, p in enumerate(PROMPTS)]
    out = {}
    for batch_size in (2, 1):
        config = SystemConfig(pipeline=class_name, model=str(tiny_models_all[name]),
                              params={**params(name), "batch_size": batch_size})
        out[batch_size] = videos_generate(config=config, requests=requests, cache=cache)
    assert cache.loads == 1
    for together, alone in zip(out[2], out[1], strict=True):
        assert together.frames.shape == (FRAMES.get(name, 9), size, size, 3)
        assert np.abs(together.frames.astype(float) - alone.frames.astype(float)).mean() / 255 <= 1e-3
    # Different prompts and images give different videos: the per-prompt arguments reached each video.
    assert np.abs(out[2][0].frames.astype(float) - out[2][1].frames.astype(float)).mean() > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(CLASSES))
def test_each_class_generates_playable_videos_that_a_rerun_reproduces(tiny_models_all, eager, name):
    class_name, size, _ = CLASSES[name]
    args = [a for k, v in params(name).items() for a in ("--param", f"{k}={json.dumps(v)}")]
    for system in ("first", "again"):
        add_system(system, "--pipeline", class_name, "--model", str(tiny_models_all[name]), *args, "--param", "seed=3")
    make_prompts("set", PROMPTS, images=name not in TEXT_ONLY)

    for system in ("first", "again"):
        out = StringIO()
        call_command("generate", "--system", system, "--prompt-set", "set", "--wait", stdout=out, stderr=StringIO())
        assert f"{system}: 2 done, 0 failed of 2" in out.getvalue()

    videos = {(v.system.name, v.prompt.key): v for v in Video.objects.select_related("system", "prompt")}
    assert len(videos) == 4
    for (_, key), video in videos.items():
        info = probe_video(Path(video.file.path))
        assert (info.codec, info.width, info.height, info.frame_count, info.fps) == ("h264", size, size, FRAMES.get(name, 9), 8.0)
        assert video.sha256 == videos[("first", key)].sha256  # same seed, same file
    assert videos[("first", "p0001")].sha256 != videos[("first", "p0002")].sha256


@pytest.mark.django_db(transaction=True)
def test_stable_video_diffusion_is_conditioned_on_the_system_s_fps(tiny_models_all, eager):
    args = [a for k, v in params("svd").items() if k != "fps" for a in ("--param", f"{k}={v}")]
    for name, fps in (("slow", 4), ("fast", 24)):
        add_system(name, "--pipeline", "StableVideoDiffusionPipeline", "--model", str(tiny_models_all["svd"]), *args,
                   "--param", f"fps={fps}")
    make_prompts("set", PROMPTS[:1], images=True)
    for name in ("slow", "fast"):
        call_command("generate", "--system", name, "--prompt-set", "set", "--wait", stdout=StringIO(), stderr=StringIO())
    slow, fast = (Video.objects.get(system__name=n) for n in ("slow", "fast"))
    assert (slow.fps, fast.fps) == (4.0, 24.0)
    # Same seed, image and everything else: only the pipeline's own fps conditioning differs.
    assert np.abs(video_frames(slow.file.path).astype(float) - video_frames(fast.file.path).astype(float)).mean() > 1


@pytest.mark.django_db(transaction=True)
def test_a_factorized_system_animates_its_first_frames_with_wan_image_to_video(tiny_models, tiny_models_all, eager):
    # Wan's image-to-video call takes one image, not a list: the second stage gets one first frame per call.
    args = [a for k, v in params("wan-i2v").items() for a in ("--param", f"{k}={v}")]
    add_system("emu-wan", "--pipeline", "factorized", "--model", str(tiny_models_all["wan-i2v"]),
               "--image-model", str(tiny_models["text-to-image"]), *args, "--param", "image.num_inference_steps=2",
               "--param", "batch_size=2")
    make_prompts("set", PROMPTS)
    out = StringIO()
    call_command("generate", "--system", "emu-wan", "--prompt-set", "set", "--wait", stdout=out, stderr=StringIO())
    assert "emu-wan: 2 done, 0 failed of 2" in out.getvalue()
    for video in Video.objects.all():
        info = probe_video(Path(video.file.path))
        assert (info.codec, info.width, info.height, info.frame_count) == ("h264", 16, 16, 9) and video.first_frame


def test_hunyuan_video_gets_its_own_prompt_template(tiny_models_all):
    cache = PipelineCache(1)
    base = {**params("hunyuan-video"), "batch_size": 1}
    outputs = [
        videos_generate(config=SystemConfig(pipeline="HunyuanVideoPipeline", model=str(tiny_models_all["hunyuan-video"]),
                                            params=extra | base), requests=[Request("a cat", 1)], cache=cache)[0].frames
        for extra in ({}, {"prompt_template": {"template": "{}", "crop_start": 0}})
    ]
    assert np.abs(outputs[0].astype(float) - outputs[1].astype(float)).mean() > 0
