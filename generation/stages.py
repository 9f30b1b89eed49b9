"""Post-generation stages of a system: frame interpolation, then upscaling, applied to each video's frames
before it is encoded (as Emu Video interpolates its 16 frames, and Make-A-Video interpolates, then upscales).

The stages are part of the system: its stored videos have the frame rate, frame count and size they give.
Keys (our own `--param`s, checked when the system is added):
- `interpolate`: `minterpolate` (ffmpeg's motion-compensated interpolation, PyAV's libavfilter) or a user module given as
  `PATH.py:NAME` or `package.module:NAME`. NAME is a callable, or a class (a `torch.nn.Module`) built with
  no arguments, once per worker process; it is called with the frames as a float CPU tensor
  (frames, 3, height, width) in [0, 1] and returns the new frames in the same layout (any count, the same size).
- `interpolate=pipeline` with `interpolate_model`: a saved diffusers pipeline of the user's own (a directory with
  `model_index.json` and the `pipeline.py` that defines its class), loaded through the worker's pipeline cache and
  called as `pipe(frames=..., fps=..., target_fps=..., **interpolate_args)` with the frames in the module layout;
  it returns an output whose `frames` are the new frames in that layout. `interpolate_args.KEY`: its call arguments.
- `interpolate_fps`: the frame rate after interpolation, above the system's `fps`; the stored video's fps.
- `upscale`: `lanczos` (PIL), or a diffusers upscaling pipeline class (e.g. `StableDiffusionUpscalePipeline`)
  with `upscale_model` (a local directory or hub id) and `upscale_args.KEY` (its call arguments, e.g.
  `upscale_args.num_inference_steps=20`); it is given each frame with the prompt the video stage got.
- `upscale_scale` (a factor) or `upscale_width` with `upscale_height` (pixels): the Lanczos target.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from generation.checks import ConfigError
from generation.steps import Steps

STAGE_KEYS = ("interpolate", "interpolate_fps", "interpolate_model", "interpolate_args", "upscale", "upscale_scale",
              "upscale_width", "upscale_height", "upscale_model", "upscale_args")
MINTERPOLATE = "minterpolate"
PIPELINE = "pipeline"
# The pipeline cache's name for a user's own pipeline class, loaded from its checkpoint's pipeline.py.
CUSTOM_PIPELINE = "custom pipeline.py"
LANCZOS = "lanczos"
MAX_SIDE = 8192
MAX_FPS = 240
# Frames given to a diffusers upscaler per call (its memory grows with the batch).
UPSCALE_FRAMES_PER_CALL = 8


def _number(params: dict, key: str, low: float, high: float) -> float:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise ConfigError(f"{key}={value!r}: must be a number above {low:g} and at most {high:g}")
    return float(value)


def output_fps(params: dict, default: float = 8) -> float:
    """The stored video's frame rate: `interpolate_fps` when the system interpolates, else `fps`."""
    return float(params.get("interpolate_fps") if "interpolate" in params else params.get("fps", default))


def check_stages(params: dict, *, size: tuple[int | None, int | None], default_fps: float, allow_code: bool = False) -> None:
    """Refuse stage keys that cannot work, naming the parameter; `size` is the video's (height, width) if known.

    A user module is code the workers will run: only with `allow_code` (the command line, whose user runs
    code on the machine anyway), never from the web page or the JSON API."""
    _check_interpolate(params, float(params.get("fps", default_fps)), allow_code)
    _check_upscale(params, size)


def _check_interpolate(params: dict, fps: float, allow_code: bool) -> None:
    if "interpolate" not in params:
        for key in ("interpolate_fps", "interpolate_model", "interpolate_args"):
            if key in params:
                raise ConfigError(f"{key}: goes with interpolate=minterpolate (or a module, or interpolate=pipeline)")
        return
    method = params["interpolate"]
    if method != PIPELINE:
        extra = [k for k in ("interpolate_model", "interpolate_args") if k in params]
        if extra:
            raise ConfigError(f"{extra[0]}: goes with interpolate=pipeline, not interpolate={method}")
    if method != MINTERPOLATE:
        if not isinstance(method, str) or (":" not in method and method != PIPELINE):
            raise ConfigError(f"interpolate={method!r}: must be {MINTERPOLATE}, a module as PATH.py:NAME or package.module:NAME, "
                              f"or {PIPELINE} (with interpolate_model)")
        if not allow_code:
            raise ConfigError(f"interpolate={method}: a module runs your code on the workers; add such a system with "
                              "`manage.py add_system` on the server")
        if method == PIPELINE:
            _check_interpolation_pipeline(params)
        else:
            user_module(method)
    if "interpolate_fps" not in params:
        raise ConfigError(f"interpolate={method}: needs interpolate_fps (the frame rate after interpolation)")
    if _number(params, "interpolate_fps", 0, MAX_FPS) <= fps:
        raise ConfigError(f"interpolate_fps={params['interpolate_fps']}: must be above the system's fps ({fps:g})")


def _check_upscale(params: dict, size: tuple[int | None, int | None]) -> None:
    sizing = [k for k in ("upscale_scale", "upscale_width", "upscale_height") if k in params]
    extra = [k for k in ("upscale_model", "upscale_args") if k in params]
    if "upscale" not in params:
        if sizing or extra:
            raise ConfigError(f"{(sizing + extra)[0]}: goes with upscale=lanczos (or a diffusers upscaler class)")
        return
    method = params["upscale"]
    if method == LANCZOS:
        if extra:
            raise ConfigError(f"{extra[0]}: goes with a diffusers upscaler, not upscale=lanczos")
        _check_lanczos_size(params, sizing, size)
        return
    if sizing:
        raise ConfigError(f"{sizing[0]}: a diffusers upscaler's model sets the size; only upscale=lanczos takes it")
    _check_upscaler(method, params)


def _check_lanczos_size(params: dict, sizing: list[str], size: tuple[int | None, int | None]) -> None:
    if sizing == ["upscale_scale"]:
        scale = _number(params, "upscale_scale", 0, 16)
        if None in size:
            raise ConfigError("upscale_scale: set the video's height and width parameters, so the upscaled size is known")
        for dim, value in zip(("height", "width"), size, strict=True):
            scaled = value * scale
            if scaled != int(scaled) or int(scaled) % 2 or not 2 <= scaled <= MAX_SIDE:
                raise ConfigError(
                    f"upscale_scale={params['upscale_scale']}: gives a {dim} of {scaled:g} from {value}; the upscaled sides "
                    f"must be even whole numbers of pixels up to {MAX_SIDE}"
                )
    elif sorted(sizing) == ["upscale_height", "upscale_width"]:
        for key in sizing:
            value = params[key]
            if isinstance(value, bool) or not isinstance(value, int) or value % 2 or not 2 <= value <= MAX_SIDE:
                raise ConfigError(f"{key}={value!r}: must be an even whole number of pixels up to {MAX_SIDE}")
    else:
        raise ConfigError("upscale=lanczos: needs upscale_scale, or upscale_width with upscale_height")


def _check_upscaler(method: Any, params: dict) -> None:
    from generation.pipelines import SERVICE_ARGS, model_index, pipeline_class

    try:
        args = set(inspect.signature(pipeline_class(method).__call__).parameters) if isinstance(method, str) else set()
    except ConfigError:
        args = set()
    if not {"image", "prompt"} <= args or "num_frames" in args:
        raise ConfigError(f"upscale={method!r}: must be {LANCZOS} or a diffusers image upscaler class taking prompt and image")
    if not isinstance(params.get("upscale_model"), str) or not params["upscale_model"]:
        raise ConfigError(f"upscale={method}: needs upscale_model (a local directory or hub id of the upscaler)")
    index = model_index(params["upscale_model"])  # None for a hub id: checked by the worker that loads it
    if index is not None and index.get("_class_name") != method:
        raise ConfigError(f"upscale_model={params['upscale_model']}: holds a {index.get('_class_name')} checkpoint, not {method}")
    upscale_args = params.get("upscale_args", {})
    if not isinstance(upscale_args, dict):
        raise ConfigError("upscale_args: expected upscale_args.KEY=VALUE call arguments of the upscaler")
    unknown = sorted(set(upscale_args) - (args - SERVICE_ARGS))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join('upscale_args.' + k for k in unknown)} for {method}")


def _user_attribute(location: str, name: str, where: str) -> Any:
    """`name` in the module at `location` (`PATH.py` or `package.module`); `where` starts the error messages."""
    try:
        if location.endswith(".py"):
            path = Path(location).expanduser()
            if not path.is_file():
                raise ConfigError(f"{where}: no such file {path}")
            loader = importlib.util.spec_from_file_location(f"juice_stage_{path.stem}", path)
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except ConfigError:
        raise
    except Exception as exc:  # the user's code: whatever it raises on import is reported as is
        raise ConfigError(f"{where}: cannot import {location} ({type(exc).__name__}: {exc})") from None
    target = getattr(module, name, None)
    if not callable(target):
        raise ConfigError(f"{where}: {location} has no callable {name!r}")
    return target


def user_module(spec: str) -> Callable:
    """The callable named by `PATH.py:NAME` or `package.module:NAME` (a class is built with no arguments)."""
    location, _, name = spec.rpartition(":")
    target = _user_attribute(location, name, f"interpolate={spec}")
    return target() if isinstance(target, type) else target


def _check_interpolation_pipeline(params: dict) -> None:
    """interpolate=pipeline: a local checkpoint whose pipeline.py defines a DiffusionPipeline class taking frames,
    fps and target_fps, and interpolate_args that its call takes."""
    from diffusers import DiffusionPipeline

    from generation.pipelines import model_index

    model = params.get("interpolate_model")
    if not isinstance(model, str) or not model:
        raise ConfigError("interpolate=pipeline: needs interpolate_model (the directory of your saved pipeline)")
    where = f"interpolate_model={model}"
    code = Path(model).expanduser() / "pipeline.py"
    if not code.parent.is_dir() or not code.is_file():
        raise ConfigError(f"{where}: expected a saved diffusers pipeline there (model_index.json) with the pipeline.py "
                          "that defines its class")
    name = model_index(model).get("_class_name", "")
    cls = _user_attribute(str(code), name, where)
    if not (isinstance(cls, type) and issubclass(cls, DiffusionPipeline)):
        raise ConfigError(f"{where}: {name or 'its class'} in pipeline.py is not a diffusers DiffusionPipeline")
    call = inspect.signature(cls.__call__).parameters
    missing = [a for a in ("frames", "fps", "target_fps") if a not in call]
    if missing:
        raise ConfigError(f"{where}: {name}.__call__ must take frames, fps and target_fps; it lacks {', '.join(missing)}")
    args = params.get("interpolate_args", {})
    if not isinstance(args, dict):
        raise ConfigError("interpolate_args: expected interpolate_args.KEY=VALUE call arguments of the pipeline")
    given_by_us = {"self", "frames", "fps", "target_fps", "generator"}
    unknown = sorted(k for k in args if k not in call or k in given_by_us)
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join('interpolate_args.' + k for k in unknown)} for {name}")


# -- running ---------------------------------------------------------------------------------------


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
