"""Running a system's post-generation stages on each video's frames: frame interpolation, then upscaling.

The keys and their checks: generation/pipelines/stage_config.py.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from fractions import Fraction
from itertools import pairwise
from typing import Any

import numpy as np

from generation.pipelines.cache import CUSTOM_PIPELINE
from generation.pipelines.stage_config import LANCZOS, MINTERPOLATE, PIPELINE, user_module
from generation.pipelines.steps import Steps

# Frames given to a diffusers upscaler per call (its memory grows with the batch).
UPSCALE_FRAMES_PER_CALL = 8


def upscales_with_pipeline(params: dict) -> bool:
    """Whether the system's upscaling is a diffusers pipeline (a phase of its own, with steps)."""
    return params.get("upscale", LANCZOS) != LANCZOS


def stages_apply(params: dict, frames: np.ndarray, *, prompt: str, seed: int, load: Callable,
                 steps: Steps) -> np.ndarray:
    """The frames after the system's stages (interpolation, then upscaling); `load(class, model, params)` gives a
    loaded pipeline (the worker's cache), whose calls report their steps to `steps`."""
    if "interpolate" in params:
        fps, target = float(params.get("fps", 8)), float(params["interpolate_fps"])
        if params["interpolate"] == MINTERPOLATE:
            frames = minterpolate(frames, fps=fps, target_fps=target)
        elif params["interpolate"] == PIPELINE:
            interpolator = load(CUSTOM_PIPELINE, params["interpolate_model"], {"dtype": params.get("dtype", "auto")})
            frames = _run_interpolator(interpolator, frames, fps=fps, target_fps=target, args=params.get("interpolate_args", {}),
                                       seed=seed)
        else:
            frames = _run_module(_loaded_module(params["interpolate"]), frames)
    if upscales_with_pipeline(params):
        upscaler = load(params["upscale"], params["upscale_model"], {"dtype": params.get("dtype", "auto")})
        frames = _run_upscaler(upscaler, frames, params.get("upscale_args", {}), prompt, seed, steps)
    elif "upscale" in params:
        frames = lanczos(frames, _lanczos_size(params, frames))
    return frames


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def minterpolate(frames: np.ndarray, *, fps: float, target_fps: float) -> np.ndarray:
    """ffmpeg's motion-compensated interpolation (`minterpolate`, mci) from `fps` to `target_fps`, through PyAV's
    own libavfilter (a GPU worker needs no ffmpeg)."""
    import av

    _, height, width, _ = frames.shape
    graph = av.filter.Graph()
    source = graph.add_buffer(width=width, height=height, format="rgb24", time_base=1 / _rate(fps))
    chain = [source, graph.add("minterpolate", f"fps={_rate(target_fps)}:mi_mode=mci"), graph.add("format", "rgb24"),
             graph.add("buffersink")]
    for a, b in pairwise(chain):
        a.link_to(b)
    graph.configure()
    # minterpolate looks ahead and drops the last output frames: the last frame is held for two more
    # frames, and the output cut to the input's duration (n frames at fps -> n * target / fps frames).
    out: list[np.ndarray] = []
    for pts, array in enumerate([*frames, frames[-1], frames[-1]]):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
        frame.pts = pts
        graph.push(frame)
        out += _drain(graph)
    graph.push(None)
    out += _drain(graph)
    return np.stack(out[: max(1, round(len(frames) * target_fps / fps))])


def _drain(graph) -> list[np.ndarray]:
    import av

    frames = []
    while True:
        try:
            frames.append(graph.pull().to_ndarray(format="rgb24"))
        except (av.BlockingIOError, av.EOFError):
            return frames


@functools.lru_cache(maxsize=4)
def _loaded_module(spec: str) -> Callable:
    """A worker imports and builds a module once, not once per video (its weights may be large)."""
    return user_module(spec)


def _as_tensor(frames: np.ndarray):
    """uint8 (frames, height, width, 3) to what interpolators take: float (frames, 3, height, width) in [0, 1]."""
    import torch

    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


def _as_frames(out: Any, frames: np.ndarray, what: str) -> np.ndarray:
    """An interpolator's output back to uint8 frames, or a ValueError saying what came back instead."""
    import torch

    if not isinstance(out, torch.Tensor) or out.ndim != 4 or tuple(out.shape[1:]) != (3, *frames.shape[1:3]):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the interpolation {what} returned {shape}; expected (frames, 3, {frames.shape[1]}, {frames.shape[2]})")
    return np.ascontiguousarray((out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


def _run_module(module: Callable, frames: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return _as_frames(module(_as_tensor(frames)), frames, "module")


def _run_interpolator(pipe, frames: np.ndarray, *, fps: float, target_fps: float, args: dict, seed: int) -> np.ndarray:
    """A user's interpolation pipeline on the frames (on its device); a generator on the video's seed if it takes one."""
    import torch

    takes = inspect.signature(type(pipe).__call__).parameters
    extra = {"generator": torch.Generator("cpu").manual_seed(seed)} if "generator" in takes else {}
    with torch.no_grad():
        out = pipe(frames=_as_tensor(frames).to(pipe.device), fps=fps, target_fps=target_fps, **extra, **args)
    return _as_frames(getattr(out, "frames", out[0] if isinstance(out, tuple) else out), frames, "pipeline")


def _lanczos_size(params: dict, frames: np.ndarray) -> tuple[int, int]:
    """(width, height) of the Lanczos target."""
    if "upscale_scale" in params:
        scale = float(params["upscale_scale"])
        return round(frames.shape[2] * scale), round(frames.shape[1] * scale)
    return int(params["upscale_width"]), int(params["upscale_height"])


def lanczos(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Each frame resized to `size` (width, height) with PIL's Lanczos filter."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.Resampling.LANCZOS)) for f in frames])


def _run_upscaler(pipe, frames: np.ndarray, args: dict, prompt: str, seed: int, steps: Steps) -> np.ndarray:
    """The frames upscaled, UPSCALE_FRAMES_PER_CALL a call; each call's steps count from 1 again."""
    import torch
    from PIL import Image

    steps.start(1)
    out = []
    for start in range(0, len(frames), UPSCALE_FRAMES_PER_CALL):
        chunk = [Image.fromarray(f) for f in frames[start : start + UPSCALE_FRAMES_PER_CALL]]
        # One generator per frame, all on the video's seed: every frame gets the same noise, which does not flicker.
        generators = [torch.Generator("cpu").manual_seed(seed) for _ in chunk]
        images = pipe(prompt=[prompt] * len(chunk), image=chunk, generator=generators, output_type="np", **args,
                      **steps.call_args(pipe, [0])).images
        out.append((np.asarray(images, dtype=np.float32).clip(0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(out)
