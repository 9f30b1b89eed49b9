"""A generated system's configuration, checked when the system is added (`add_system`, the systems page and API)
so that it never fails on a worker.

A configuration is what `add_system` stores on a System:
- `pipeline`: a diffusers pipeline class name (text-to-video or image-to-video), or "factorized";
  a factorized system has `image_pipeline` (text-to-image) and `video_pipeline` (image-to-video).
- `params`: the pipeline's own call arguments (`num_frames`, `height`, `num_inference_steps`, ...),
  plus our keys: `fps` (of the stored video), `dtype` (`auto`, `bfloat16`, `float16` on CUDA; the
  CPU always runs float32), `seed` (default base seed), `batch_size` (prompts per call), `scheduler`
  (overrides of the scheduler's config, e.g. `rescale_betas_zero_snr`, `timestep_spacing`,
  `prediction_type`, and `class` to swap the scheduler class) and, for factorized systems, `image`
  (the text-to-image call's arguments, with its own `scheduler`), `prompt_template` (a text with
  `{prompt}`, given to the pipeline instead of the prompt; raters see the original prompt), and
  the load options of checks.py: `vae_tiling`, `vae_slicing`, `offload`, per-component `dtype`,
  `attention_backend`, `compile`, `lora` with `lora_scale`, `revision`, `variant`; and the
  post-generation stages of stage_config.py (`interpolate`, `upscale`, ...).

Running a configuration (loading, caching, calling pipelines) is cache.py and run.py beside this module.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from generation.pipelines.checks import (
    LOAD_KEYS,
    check_counts,
    check_geometry,
    check_load_options,
    check_runnable,
    check_scheduler,
    check_scheduler_values,
    check_variant,
    pipeline_shell,
)
from generation.pipelines.classes import (
    FACTORIZED,
    IMAGE_TO_VIDEO,
    TEXT_TO_IMAGE,
    ConfigError,
    model_index,
    pipeline_class,
    pipeline_kind,
    scheduler_class,
    user_call_args,
)
from generation.pipelines.stage_config import STAGE_KEYS, check_stages

log = logging.getLogger(__name__)

# The classes the systems page offers (any diffusers video class works from the command line): the
# families the README names, each text-to-video and image-to-video, and "factorized".
SUPPORTED_PIPELINES = (
    "LTXPipeline", "LTXImageToVideoPipeline", "LTXConditionPipeline", "CogVideoXPipeline", "CogVideoXImageToVideoPipeline",
    "WanPipeline", "WanImageToVideoPipeline", "HunyuanVideoPipeline", "HunyuanVideoImageToVideoPipeline",
    "AnimateDiffPipeline", "StableVideoDiffusionPipeline", "TextToVideoSDPipeline", "MochiPipeline", "AllegroPipeline",
    "SkyReelsV2Pipeline", FACTORIZED,
)

# Our own keys next to the pipeline's call arguments.
OWN_KEYS = {"fps", "seed", "batch_size", "scheduler", "image", "prompt_template", "prompt_column", *LOAD_KEYS, *STAGE_KEYS}
DEFAULT_FPS = 8
DEFAULT_BATCH_SIZE = 4


def params_parse(pairs: list[str]) -> dict:
    """`KEY=VALUE` strings to a params dict; dotted keys nest (`scheduler.timestep_spacing=trailing`).

    Values are JSON when they parse as JSON (numbers, true/false, lists), strings otherwise.
    """
    params: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {pair!r}: expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, leaf = key.split(".")
        if parents == ["dtype"] and isinstance(params.get("dtype"), str):
            params["dtype"] = {"default": params["dtype"]}  # dtype=bfloat16 then dtype.vae=float32
        if key == "dtype" and isinstance(params.get("dtype"), dict):
            key, parents, leaf = "dtype.default", ["dtype"], "default"
        node = params
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--param {pair!r}: {part!r} is already set to a value")
        node[leaf] = value
    return params


def params_lines(params: dict, prefix: str = "") -> list[str]:
    """A params dict as the `KEY=VALUE` lines `params_parse` reads (nested keys dotted, values JSON)."""
    lines = []
    for key, value in params.items():
        if isinstance(value, dict):
            lines += params_lines(value, f"{prefix}{key}.")
        else:
            lines.append(f"{prefix}{key}={value if isinstance(value, str) else json.dumps(value)}")
    return lines


def _check_call(cls: type, params: dict, *, where: str, model: str, own: set[str]) -> None:
    check_runnable(cls)
    check_counts(params, where)
    allowed = user_call_args(cls)
    unknown = sorted(set(params) - allowed - own)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(where + k for k in unknown)} for {cls.__name__}; "
            f"known: {', '.join(where + k for k in sorted(allowed | own))}"
        )
    template = params.get("prompt_template", "{prompt}")
    if isinstance(template, dict) and "prompt_template" in user_call_args(cls):
        pass  # the pipeline's own argument (HunyuanVideo's template for its Llama encoder)
    elif not isinstance(template, str) or "{prompt}" not in template:
        raise ConfigError(f"{where}prompt_template={template!r}: must be a text containing {{prompt}}")
    index = model_index(model)
    local = Path(model).expanduser() if index is not None else None
    scheduler = (index or {}).get("scheduler")
    scheduler_name = scheduler[1] if isinstance(scheduler, list) else None
    if "scheduler" in params:
        check_scheduler(params["scheduler"], scheduler_name=scheduler_name, where=f"{where}scheduler")
        name = params["scheduler"].get("class", scheduler_name)
        if local is not None and name:
            check_scheduler_values(
                scheduler_class(name), params["scheduler"], local, params.get("num_inference_steps"), f"{where}scheduler"
            )
    if local is not None:
        check_geometry(cls, params, _shell(cls, local, index))


def _shell(cls: type, model_dir: Path, index: dict):
    try:
        return pipeline_shell(cls, model_dir, index)
    except Exception:  # an exotic layout: its sizes are then checked by the pipeline when it runs
        log.warning("%s: cannot build %s from its component configs; sizes not checked", model_dir, cls.__name__, exc_info=True)
        return None


def _check_own_keys(params: object) -> None:
    """Our own keys next to the pipeline's arguments: fps, seed and batch_size (dtype and the other load
    options: checks.check_load_options)."""
    if not isinstance(params, dict):
        raise ConfigError("params must be a mapping of KEY=VALUE")
    fps = params.get("fps", DEFAULT_FPS)
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 240:
        raise ConfigError(f"fps={fps!r}: must be a number between 0 and 240")
    column = params.get("prompt_column", "x")
    if not isinstance(column, str) or not 0 < len(column.strip()) <= 100:
        raise ConfigError(f"prompt_column={column!r}: must be the name of a prompt:<name> column (1 to 100 characters)")
    for key, low in (("seed", 0), ("batch_size", 1)):
        value = params.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{key}={value!r}: must be a whole number of at least {low}")


def config_validate(
    *, pipeline: str, model: str, params: dict, image_pipeline: str = "", image_model: str = "", video_pipeline: str = "",
    allow_code: bool = False,
) -> dict:
    """Check a generated system's configuration; return the resolved class names. Raises ConfigError.

    `allow_code`: the configuration may name a user module (stages.check_stages), as on the command line."""
    _check_own_keys(params)
    if pipeline != FACTORIZED:
        if image_model or image_pipeline or "image" in params:
            raise ConfigError("an image model or image.* parameters only go with --pipeline factorized")
        cls = pipeline_class(pipeline)
        if pipeline_kind(cls) == TEXT_TO_IMAGE:
            raise ConfigError(f"{pipeline} makes images, not videos; use --pipeline factorized to animate its images")
        _check_call(cls, params, where="", model=model, own=OWN_KEYS - {"image"})
        _check_load(cls, params, model)
        check_stages(params, size=_video_size(cls, params), default_fps=DEFAULT_FPS, allow_code=allow_code)
        return {"pipeline": pipeline, "image_pipeline": "", "video_pipeline": ""}

    if not image_model:
        raise ConfigError("a factorized system needs --image-model (the text-to-image model)")
    image_pipeline = image_pipeline or _class_from_index(image_model, "--image-pipeline")
    video_pipeline = video_pipeline or _class_from_index(model, "--video-pipeline")
    image_cls, video_cls = pipeline_class(image_pipeline), pipeline_class(video_pipeline)
    if pipeline_kind(image_cls) != TEXT_TO_IMAGE:
        raise ConfigError(f"{image_pipeline} is not a text-to-image pipeline (the first stage of a factorized system)")
    if pipeline_kind(video_cls) != IMAGE_TO_VIDEO:
        raise ConfigError(f"{video_pipeline} is not an image-to-video pipeline (the second stage of a factorized system)")
    _check_call(video_cls, params, where="", model=model, own=OWN_KEYS)
    _check_load(video_cls, params, model)
    check_stages(params, size=_video_size(video_cls, params), default_fps=DEFAULT_FPS, allow_code=allow_code)
    image_params = params.get("image", {})
    if not isinstance(image_params, dict):
        raise ConfigError("image: expected image.KEY=VALUE parameters of the text-to-image call")
    _check_call(image_cls, image_params, where="image.", model=image_model, own={"scheduler", "prompt_template"})
    return {"pipeline": FACTORIZED, "image_pipeline": image_pipeline, "video_pipeline": video_pipeline}


def _video_size(cls: type, params: dict) -> tuple[int | None, int | None]:
    """The video's (height, width): the params', else the pipeline's own defaults where they are numbers."""
    args = inspect.signature(cls.__call__).parameters
    size = []
    for dim in ("height", "width"):
        value = params.get(dim, args[dim].default if dim in args else None)
        size.append(value if isinstance(value, int) and not isinstance(value, bool) else None)
    return size[0], size[1]


def _check_load(cls: type, params: dict, model: str) -> None:
    index = model_index(model)
    components = None if index is None else {k for k in index if not k.startswith("_")}
    check_load_options(params, cls=cls, components=components, local=index is not None)
    if index is not None and "variant" in params:
        check_variant(params["variant"], Path(model).expanduser())


def _class_from_index(model: str, flag: str) -> str:
    index = model_index(model)
    if index is None or not index.get("_class_name"):
        raise ConfigError(f"model {model}: its pipeline class is unknown here; name it with {flag}")
    return index["_class_name"]


@dataclass(frozen=True)
class SystemConfig:
    """The part of a System that generation needs; built from the row, passed to the worker's calls."""

    pipeline: str
    model: str
    params: dict = field(default_factory=dict)
    image_pipeline: str = ""
    image_model: str = ""
    video_pipeline: str = ""

    @property
    def factorized(self) -> bool:
        return self.pipeline == FACTORIZED

    @property
    def needs_image(self) -> bool:
        """A direct image-to-video system animates the prompt's own conditioning image."""
        return not self.factorized and pipeline_kind(pipeline_class(self.pipeline)) == IMAGE_TO_VIDEO

    @property
    def batch_size(self) -> int:
        return int(self.params.get("batch_size", DEFAULT_BATCH_SIZE))
