"""Diffusers pipelines: validating a system's configuration, loading, a bounded cache, batched calls.

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
  the load options of generation/checks.py: `vae_tiling`, `vae_slicing`, `offload`, per-component
  `dtype`, `attention_backend`, `compile`, `lora` with `lora_scale`, `revision`, `variant`.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generation.checks import (
    LOAD_KEYS,
    ConfigError,
    check_counts,
    check_geometry,
    check_load_options,
    check_runnable,
    check_scheduler_values,
    check_variant,
    pipeline_shell,
)
from generation.stages import CUSTOM_PIPELINE, STAGE_KEYS, check_stages, output_fps, stages_apply, upscales_with_pipeline
from generation.steps import StepProgress, Steps

log = logging.getLogger(__name__)

FACTORIZED = "factorized"
TEXT_TO_VIDEO = "text-to-video"
IMAGE_TO_VIDEO = "image-to-video"
TEXT_TO_IMAGE = "text-to-image"

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
# Image-to-video classes whose `image` takes one image per prompt in a batched call, as
# tests/generation/test_pipeline_classes.py proves (batched frames equal one-at-a-time frames).
# Every other image-to-video class gets one prompt and one image per call: Wan's refuses a list,
# LTXCondition's applies every image of a list to every video.
BATCHES_IMAGES = frozenset({"LTXImageToVideoPipeline", "CogVideoXImageToVideoPipeline"})
# Call arguments the service sets itself: a user may not override them.
SERVICE_ARGS = {
    "self", "prompt", "image", "generator", "output_type", "return_dict", "callback", "callback_steps",
    "callback_on_step_end", "callback_on_step_end_tensor_inputs", "latents", "prompt_embeds",
    "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds", "prompt_attention_mask",
    "negative_prompt_attention_mask", "image_embeds", "ip_adapter_image", "ip_adapter_image_embeds", "kwargs",
}
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


def pipeline_class(name: str) -> type:
    """The diffusers pipeline class called `name`, or a ConfigError."""
    import diffusers

    cls = getattr(diffusers, name, None) if name.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)) or cls is diffusers.DiffusionPipeline:
        raise ConfigError(f"unknown diffusers pipeline class {name!r} (diffusers {diffusers.__version__})")
    return cls


def pipeline_kind(cls: type) -> str:
    """What a pipeline class makes: text-to-video, image-to-video or text-to-image."""
    args = inspect.signature(cls.__call__).parameters
    if "num_frames" in args:
        return IMAGE_TO_VIDEO if "image" in args else TEXT_TO_VIDEO
    if "image" not in args and "prompt" in args:
        return TEXT_TO_IMAGE
    raise ConfigError(f"{cls.__name__} is neither a video pipeline nor a text-to-image pipeline")


def _call_args(cls: type) -> set[str]:
    return set(inspect.signature(cls.__call__).parameters) - SERVICE_ARGS


def _scheduler_class(name: str) -> type:
    import diffusers

    cls = getattr(diffusers, name, None) if isinstance(name, str) and name.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise ConfigError(f"unknown diffusers scheduler class {name!r}")
    return cls


def _check_scheduler(overrides: Any, *, scheduler_name: str | None, where: str) -> None:
    """Check scheduler overrides against the scheduler class's own config keys when we know the class."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: expected KEY=VALUE overrides, e.g. {where}.timestep_spacing=trailing")
    name = overrides.get("class", scheduler_name)
    if name is None:
        return  # a hub model not on this machine: checked when a worker loads it
    allowed = set(inspect.signature(_scheduler_class(name).__init__).parameters) - {"self", "kwargs"}
    unknown = sorted(set(overrides) - allowed - {"class"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} for {name}; known: {', '.join(sorted(allowed))}")


def model_index(model: str) -> dict | None:
    """A model's model_index.json: read from a local directory; None for a hub id not on this machine."""
    path = Path(model).expanduser()
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            raise ConfigError(f"model {model}: no model_index.json in that directory (not a diffusers pipeline)")
        try:
            return json.loads(index.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"model {model}: unreadable model_index.json ({exc})") from None
    parts = model.split("/")
    if path.is_absolute() or model.startswith(".") or len(parts) != 2 or not all(parts):
        raise ConfigError(f"model {model}: no such directory, and not a hub id (owner/name)")
    return None


def _check_call(cls: type, params: dict, *, where: str, model: str, own: set[str]) -> None:
    check_runnable(cls)
    check_counts(params, where)
    allowed = _call_args(cls)
    unknown = sorted(set(params) - allowed - own)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(where + k for k in unknown)} for {cls.__name__}; "
            f"known: {', '.join(where + k for k in sorted(allowed | own))}"
        )
    template = params.get("prompt_template", "{prompt}")
    if isinstance(template, dict) and "prompt_template" in _call_args(cls):
        pass  # the pipeline's own argument (HunyuanVideo's template for its Llama encoder)
    elif not isinstance(template, str) or "{prompt}" not in template:
        raise ConfigError(f"{where}prompt_template={template!r}: must be a text containing {{prompt}}")
    index = model_index(model)
    local = Path(model).expanduser() if index is not None else None
    scheduler = (index or {}).get("scheduler")
    scheduler_name = scheduler[1] if isinstance(scheduler, list) else None
    if "scheduler" in params:
        _check_scheduler(params["scheduler"], scheduler_name=scheduler_name, where=f"{where}scheduler")
        name = params["scheduler"].get("class", scheduler_name)
        if local is not None and name:
            check_scheduler_values(
                _scheduler_class(name), params["scheduler"], local, params.get("num_inference_steps"), f"{where}scheduler"
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


# -- running ---------------------------------------------------------------------------------------


def device_and_dtype(dtype: str | dict = "auto"):
    """bf16 (or fp16 where bf16 is missing) on CUDA, float32 on the CPU, where half precision is slow or missing.

    A mapping (`dtype.vae=float32`) gives {component: dtype, "default": dtype}, as from_pretrained takes it.
    """
    import torch

    if isinstance(dtype, dict):
        device, default = device_and_dtype(dtype.get("default", "auto"))
        return device, {"default": default, **{k: device_and_dtype(v)[1] for k, v in dtype.items() if k != "default"}}
    if not torch.cuda.is_available():
        return torch.device("cpu"), torch.float32
    if dtype == "float32":
        return torch.device("cuda"), torch.float32
    if dtype == "float16" or (dtype == "auto" and not torch.cuda.is_bf16_supported()):
        return torch.device("cuda"), torch.float16
    return torch.device("cuda"), torch.bfloat16


@dataclass(frozen=True)
class PipelineKey:
    """What makes two loaded pipelines interchangeable; the cache's key."""

    class_name: str
    model: str
    dtype: str  # a name, or canonical JSON of a per-component mapping
    scheduler: str = "{}"  # canonical JSON of the overrides
    options: str = "{}"  # canonical JSON of the other load options (checks.LOAD_KEYS)


class PipelineCache:
    """Loaded pipelines kept between jobs, at most `size`, least recently used evicted first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[PipelineKey, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, key: PipelineKey):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            # Free memory before loading: the least recently used go first, while the cache is full or,
            # on a GPU, while the new model's weights would not fit beside them.
            while self._items and (len(self._items) >= self.size or not _room_for(key.model)):
                self._items.popitem(last=False)
                _release_memory()
            pipe = pipeline_load(key)
            self.loads += 1
            self._items[key] = pipe
            return pipe

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            _release_memory()


def _release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _room_for(model: str) -> bool:
    """Whether a local model's weights fit in the GPU's free memory (always, on the CPU or for a hub id)."""
    import torch

    path = Path(model).expanduser()
    if not torch.cuda.is_available() or not path.is_dir():
        return True
    need = sum(p.stat().st_size for p in path.rglob("*.safetensors"))
    return torch.cuda.mem_get_info()[0] > need


def pipeline_load(key: PipelineKey):
    """Load through `from_pretrained` (as for any checkpoint), apply scheduler overrides and load options,
    move to the device (or set up offloading)."""
    import diffusers

    custom = key.class_name == CUSTOM_PIPELINE  # a user's own class, from the checkpoint's pipeline.py
    cls = diffusers.DiffusionPipeline if custom else pipeline_class(key.class_name)
    options = json.loads(key.options)
    device, dtype = device_and_dtype(json.loads(key.dtype) if key.dtype.startswith("{") else key.dtype)
    hub = {k: options[k] for k in ("revision", "variant") if k in options}
    code = {"custom_pipeline": key.model, "trust_remote_code": True} if custom else {}
    pipe = cls.from_pretrained(key.model, dtype=dtype, **hub, **code)
    overrides = json.loads(key.scheduler)
    if overrides:
        scheduler_cls = _scheduler_class(overrides.pop("class")) if "class" in overrides else type(pipe.scheduler)
        _check_scheduler(overrides, scheduler_name=scheduler_cls.__name__, where=f"{key.model} scheduler")
        pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config, **overrides)
    _apply_options(pipe, options)
    _place(pipe, options.get("offload", "none"), device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _denoisers(pipe) -> list:
    return [m for m in (getattr(pipe, n, None) for n in ("transformer", "transformer_2", "unet")) if m is not None]


def _apply_options(pipe, options: dict) -> None:
    """VAE tiling and slicing, LoRA weights, the attention backend and torch.compile, as configured."""
    vae = getattr(pipe, "vae", None)
    if options.get("vae_tiling"):
        vae.enable_tiling()
    if options.get("vae_slicing"):
        vae.enable_slicing()
    if "lora" in options:
        pipe.load_lora_weights(options["lora"], adapter_name="lora")
        pipe.set_adapters(["lora"], [float(options.get("lora_scale", 1.0))])
    for module in _denoisers(pipe):
        if "attention_backend" in options:
            module.set_attention_backend(options["attention_backend"])
        if options.get("compile"):
            module.compile()  # compiled at its first call


def _place(pipe, offload: str, device) -> None:
    """Move to the device, or offload to the CPU between uses (only where there is an accelerator)."""
    if offload == "none":
        pipe.to(device)
    elif device.type == "cpu":
        log.info("offload=%s: no accelerator on this machine, the pipeline runs on the CPU without offloading", offload)
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.enable_group_offload(onload_device=device, offload_type="block_level", num_blocks_per_group=1)


_cache: PipelineCache | None = None


def pipeline_cache() -> PipelineCache:
    """This process's cache; its size is the JUICE_PIPELINE_CACHE setting."""
    global _cache
    if _cache is None:
        from django.conf import settings

        _cache = PipelineCache(getattr(settings, "JUICE_PIPELINE_CACHE", 2))
    return _cache


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


def pipeline_key(class_name: str, model: str, params: dict) -> PipelineKey:
    """The cache key of a pipeline class and model under these params (dtype, scheduler overrides, load options)."""
    dtype = params.get("dtype", "auto")
    options = {k: params[k] for k in LOAD_KEYS if k in params and k != "dtype"}
    return PipelineKey(
        class_name, model, dtype if isinstance(dtype, str) else json.dumps(dtype, sort_keys=True),
        json.dumps(params.get("scheduler", {}), sort_keys=True), json.dumps(options, sort_keys=True),
    )


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

    `progress(phase, request indices, step, total)` is told each denoising step of each call (generation/steps.py);
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
