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

This module holds the keys and their checks; running the stages is generation/pipelines/stages.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generation.pipelines.classes import SERVICE_ARGS, ConfigError, model_index, pipeline_class

STAGE_KEYS = ("interpolate", "interpolate_fps", "interpolate_model", "interpolate_args", "upscale", "upscale_scale",
              "upscale_width", "upscale_height", "upscale_model", "upscale_args")
MINTERPOLATE = "minterpolate"
PIPELINE = "pipeline"
LANCZOS = "lanczos"
MAX_SIDE = 8192
MAX_FPS = 240


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
