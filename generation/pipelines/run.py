"""Calling a system's pipelines: one video per request, in batched calls where the class takes lists.

A factorized system first makes each video's first frame with its text-to-image pipeline; the video
pipeline's frames then go through the system's post-generation stages (stages.py). Pipelines come
from the worker's cache (cache.py); each call reports its denoising steps (steps.py).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generation.pipelines.cache import PipelineCache, pipeline_cache, pipeline_key
from generation.pipelines.config import DEFAULT_FPS, OWN_KEYS, SystemConfig
from generation.pipelines.stage_config import output_fps
from generation.pipelines.stages import stages_apply, upscales_with_pipeline
from generation.pipelines.steps import StepProgress, Steps

# Image-to-video classes whose `image` takes one image per prompt in a batched call, as
# tests/generation/test_pipeline_classes.py proves (batched frames equal one-at-a-time frames).
# Every other image-to-video class gets one prompt and one image per call: Wan's refuses a list,
# LTXCondition's applies every image of a list to every video.
BATCHES_IMAGES = frozenset({"LTXImageToVideoPipeline", "CogVideoXImageToVideoPipeline"})


@dataclass
class Request:
    prompt: str
    seed: int
    image: Path | None = None


@dataclass
class Output:
    frames: np.ndarray  # uint8, (frames, height, width, 3)
    fps: float
    first_frame: Any = None  # the factorized system's intermediate image (PIL)


def _generators(seeds: list[int]):
    import torch

    # CPU generators: the same seed gives the same noise on any device.
    return [torch.Generator("cpu").manual_seed(s) for s in seeds]


def batches(cls: type) -> bool:
    """Whether prompts go to one call as lists: the prompt takes a list and, for an image-to-video class,
    the image takes one image per prompt (BATCHES_IMAGES). Otherwise one prompt per call."""
    args = inspect.signature(cls.__call__).parameters
    prompt = args.get("prompt")
    if prompt is None or "list" not in str(prompt.annotation).lower():
        return False
    return "image" not in args or cls.__name__ in BATCHES_IMAGES


def prompt_source(params: dict, text: str, rewrites: dict[str, str]) -> str:
    """The prompt a system works from: its `prompt_column`'s text where it has one, else the prompt's own text."""
    column = params.get("prompt_column")
    return rewrites[column] if column is not None else text


def prompt_text(params: dict, prompt: str) -> str:
    """What the pipeline is given for a prompt: the system's `prompt_template` with `{prompt}` filled in.

    A mapping is not ours but the pipeline's own `prompt_template` argument (HunyuanVideo), passed as is.
    """
    template = params.get("prompt_template", "{prompt}")
    return template.replace("{prompt}", prompt) if isinstance(template, str) else prompt


def _call(pipe, params: dict, requests: list[Request], images: list | None, output_type: str, step_args: dict):
    """One call for these requests: lists when the class batches, else a single prompt, image and generator;
    `step_args` make it report its steps (Steps.call_args)."""
    batched = batches(type(pipe))
    if not batched and len(requests) != 1:
        raise ValueError(f"{type(pipe).__name__} takes one prompt per call, not {len(requests)}")
    args = {k: v for k, v in params.items() if k not in OWN_KEYS}
    call_params = inspect.signature(type(pipe).__call__).parameters
    if isinstance(params.get("prompt_template"), dict):
        args["prompt_template"] = params["prompt_template"]
    one = (lambda values: values) if batched else (lambda values: values[0])
    if "prompt" in call_params:
        args["prompt"] = one([prompt_text(params, r.prompt) for r in requests])
    if images is not None:
        args["image"] = one(images)
    if "fps" in params:
        for name in ("frame_rate", "fps"):  # the pipeline's own frame-rate conditioning (LTX, SVD)
            if name in call_params:
                args.setdefault(name, params["fps"])
    return pipe(**args, **step_args, generator=one(_generators([r.seed for r in requests])), output_type=output_type)


def _to_uint8(frames) -> np.ndarray:
    array = np.asarray(frames, dtype=np.float32)
    # C order: pipelines hand back transposed views, and np.save writes a strided array many times slower.
    return np.ascontiguousarray((array.clip(0, 1) * 255).round().astype(np.uint8))


def _run(pipe, params: dict, requests: list[Request], images: list | None, output_type: str, steps: Steps) -> list:
    """The outputs (frames or images) of these requests, in as few calls as the class allows; each call
    reports its steps for the requests it makes (the others wait at step 0)."""
    field = "images" if output_type == "pil" else "frames"
    steps.start(len(requests))
    if batches(type(pipe)):
        every = list(range(len(requests)))
        return list(getattr(_call(pipe, params, requests, images, output_type, steps.call_args(pipe, every)), field))
    return [
        getattr(_call(pipe, params, [r], None if images is None else [images[i]], output_type, steps.call_args(pipe, [i])), field)[0]
        for i, r in enumerate(requests)
    ]


def _first_frames(config: SystemConfig, cache: PipelineCache, requests: list[Request], steps: Steps) -> list:
    """The factorized system's text-to-image stage: one first frame per request."""
    params = config.params
    image_params = dict(params.get("image", {}))
    # The first frame is made at the video's size unless the image stage says otherwise.
    for dim in ("height", "width"):
        if dim in params:
            image_params.setdefault(dim, params[dim])
    dtype = params.get("dtype", "auto")
    dtype = dtype if isinstance(dtype, str) else dtype.get("default", "auto")
    image_pipe = cache.get(pipeline_key(config.image_pipeline, config.image_model, {**image_params, "dtype": dtype}))
    return _run(image_pipe, image_params, requests, None, "pil", steps)


def videos_generate(
    *, config: SystemConfig, requests: list[Request], cache: PipelineCache | None = None, progress: StepProgress | None = None
) -> list[Output]:
    """Generate one video per request, in chunks of the system's batch size (one call per chunk where the
    class batches, else one call per request).

    `progress(phase, request indices, step, total)` is told each denoising step of each call (steps.py);
    the phase is named ("first frame", "video", "upscale") where the system runs more than one pipeline."""
    from PIL import Image

    cache = cache or pipeline_cache()
    params = config.params
    fps = output_fps(params, DEFAULT_FPS)
    video_class = config.video_pipeline if config.factorized else config.pipeline
    phased = config.factorized or upscales_with_pipeline(params)

    def steps(phase: str, offset: int) -> Steps:
        return Steps(progress, phase if phased else "", offset)

    outputs: list[Output] = []
    for start in range(0, len(requests), config.batch_size):
        chunk = requests[start : start + config.batch_size]
        first_frames = _first_frames(config, cache, chunk, steps("first frame", start)) if config.factorized else None
        if first_frames is not None:
            images = first_frames
        elif config.needs_image:
            images = [Image.open(r.image).convert("RGB") for r in chunk]
        else:
            images = None
        # Fetched after the image stage: the cache may free the image pipeline's memory to load it.
        video_pipe = cache.get(pipeline_key(video_class, config.model, params))
        for i, frames in enumerate(_run(video_pipe, params, chunk, images, "np", steps("video", start))):
            frames = stages_apply(params, _to_uint8(frames), prompt=prompt_text(params, chunk[i].prompt), seed=chunk[i].seed,
                                  load=lambda name, model, p: cache.get(pipeline_key(name, model, p)),
                                  steps=steps("upscale", start + i))
            outputs.append(Output(frames=frames, fps=fps, first_frame=first_frames[i] if first_frames else None))
    return outputs
