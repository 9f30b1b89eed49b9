"""Each supported pipeline class, from a tiny checkpoint built from configs: registered, generated for
two prompts through the real worker code, and checked as files; batched calls give the frames that
one-at-a-time calls give (same per-prompt seeds), whether or not the class batches."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from generation.models import Video
from generation.pipelines import PipelineCache, Request, SystemConfig, batches, pipeline_class, videos_generate
from generation.probe import probe_video
from juice.celery import app
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
}
PROMPTS = ["a cat", "a dog on a beach"]


def params(size: int) -> dict:
    return {"num_frames": 9, "height": size, "width": size, "num_inference_steps": 2, "max_sequence_length": 16, "fps": 8}


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
    needs_image = "image" in name or "i2v" in name or "condition" in name
    requests = [Request(p, seed=7 + i, image=images[i] if needs_image else None) for i, p in enumerate(PROMPTS)]
    out = {}
    for batch_size in (2, 1):
        config = SystemConfig(pipeline=class_name, model=str(tiny_models_all[name]),
                              params={**params(size), "batch_size": batch_size})
        out[batch_size] = videos_generate(config=config, requests=requests, cache=cache)
    assert cache.loads == 1
    for together, alone in zip(out[2], out[1], strict=True):
        assert together.frames.shape == (9, size, size, 3)
        assert np.abs(together.frames.astype(float) - alone.frames.astype(float)).mean() / 255 <= 1e-3
    # Different prompts and images give different videos: the per-prompt arguments reached each video.
    assert np.abs(out[2][0].frames.astype(float) - out[2][1].frames.astype(float)).mean() > 0


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(CLASSES))
def test_each_class_generates_playable_videos_that_a_rerun_reproduces(tiny_models_all, eager, name):
    class_name, size, _ = CLASSES[name]
    args = [a for k, v in params(size).items() for a in ("--param", f"{k}={v}")]
    for system in ("first", "again"):
        add_system(system, "--pipeline", class_name, "--model", str(tiny_models_all[name]), *args, "--param", "seed=3")
    needs_image = "image" in name or "i2v" in name or "condition" in name
    make_prompts("set", PROMPTS, images=needs_image)

    for system in ("first", "again"):
        out = StringIO()
        call_command("generate", "--system", system, "--prompt-set", "set", "--wait", stdout=out, stderr=StringIO())
        assert f"{system}: 2 done, 0 failed of 2" in out.getvalue()

    videos = {(v.system.name, v.prompt.key): v for v in Video.objects.select_related("system", "prompt")}
    assert len(videos) == 4
    for (_, key), video in videos.items():
        info = probe_video(Path(video.file.path))
        assert (info.codec, info.width, info.height, info.frame_count, info.fps) == ("h264", size, size, 9, 8.0)
        assert video.sha256 == videos[("first", key)].sha256  # same seed, same file
    assert videos[("first", "p0001")].sha256 != videos[("first", "p0002")].sha256
