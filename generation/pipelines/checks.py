"""What a system's configuration is checked against when it is added, so that it never fails later.

- Options of our own that reach the pipeline at load time (memory, speed, hub pinning, LoRA).
- Pipeline classes that cannot run on this installation, with the reason.
- Sizes and frame counts: read from the model's own components (the VAE's spatial and temporal
  compression, the transformer's patch size) and from the pipeline's own `check_inputs`; a value
  the model would refuse or silently round is refused with the nearest valid value.
- Scheduler overrides: their keys against the scheduler class's own; and the scheduler built from the
  model's scheduler config with the overrides and asked for its timesteps, as the pipeline will; its
  own message is quoted.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
from pathlib import Path
from typing import Any

from generation.pipelines.classes import ConfigError, scheduler_class

log = logging.getLogger(__name__)

DTYPES = ("auto", "bfloat16", "float16", "float32")
OFFLOAD = ("model", "sequential", "group")
# Our keys that change how a pipeline is loaded; part of the pipeline cache's key.
LOAD_KEYS = ("dtype", "revision", "variant", "vae_tiling", "vae_slicing", "offload", "attention_backend", "compile",
             "lora", "lora_scale")
# Pipeline classes that import but cannot run here.
UNRUNNABLE = {
    "I2VGenXLPipeline": "it is deprecated in diffusers and does not run with the pinned transformers",
}
# Arguments that would make several videos per call: generation records one video (and seed) per prompt.
PER_PROMPT_COUNTS = ("num_videos_per_prompt", "num_images_per_prompt")
# Classes whose VAE decodes only with tiling.
NEEDS_TILING = {"AllegroPipeline"}


def _bool(params: dict, key: str) -> None:
    if key in params and not isinstance(params[key], bool):
        raise ConfigError(f"{key}={params[key]!r}: must be true or false")


def check_load_options(params: dict, *, cls: type, components: set[str] | None, local: bool) -> None:
    """The memory, speed and pinning keys: types, accepted values, and what this installation can do."""
    for key in ("vae_tiling", "vae_slicing", "compile"):
        _bool(params, key)
    if cls.__name__ in NEEDS_TILING and params.get("vae_tiling") is not True:
        raise ConfigError(f"vae_tiling: {cls.__name__} decodes only with VAE tiling; add --param vae_tiling=true")
    if params.get("offload", "none") not in (*OFFLOAD, "none"):
        raise ConfigError(f"offload={params['offload']!r}: must be one of {', '.join(OFFLOAD)} (or none)")
    if "attention_backend" in params:
        from diffusers.models.attention_dispatch import AttentionBackendName

        names = sorted(b.value for b in AttentionBackendName if not b.value.startswith("_"))
        if params["attention_backend"] not in {b.value for b in AttentionBackendName}:
            raise ConfigError(f"attention_backend={params['attention_backend']!r}: must be one of {', '.join(names)}")
    _check_dtypes(params.get("dtype", "auto"), components)
    for key in ("revision", "variant", "lora"):
        if key in params and (not isinstance(params[key], str) or not params[key]):
            raise ConfigError(f"{key}={params[key]!r}: must be a non-empty name")
    if "revision" in params and local:
        raise ConfigError(f"revision={params['revision']!r}: a revision pins a hub model, not a local directory")
    _check_lora(params)


def _check_dtypes(dtype: Any, components: set[str] | None) -> None:
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ConfigError(f"dtype={dtype!r}: must be one of {', '.join(DTYPES)}")
        return
    if not isinstance(dtype, dict):
        raise ConfigError(f"dtype={dtype!r}: a dtype name, or dtype.COMPONENT=NAME per component")
    for name, value in dtype.items():
        if value not in DTYPES:
            raise ConfigError(f"dtype.{name}={value!r}: must be one of {', '.join(DTYPES)}")
        if components is not None and name != "default" and name not in components:
            raise ConfigError(f"dtype.{name}: the model has no component {name!r}; it has {', '.join(sorted(components))}")


def _check_lora(params: dict) -> None:
    if "lora_scale" in params and "lora" not in params:
        raise ConfigError("lora_scale: goes with lora=PATH_OR_ID")
    scale = params.get("lora_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise ConfigError(f"lora_scale={scale!r}: must be a number")
    if "lora" in params:
        from diffusers.utils import is_peft_available

        if not is_peft_available():
            raise ConfigError("lora: loading LoRA weights needs the peft package, which is not installed here")


def check_variant(variant: str, model_dir: Path) -> None:
    """A local model must hold weight files of the variant (`*.fp16.safetensors`)."""
    if not any(f".{variant}." in p.name for p in model_dir.rglob("*") if p.is_file()):
        raise ConfigError(f"variant={variant!r}: model {model_dir} has no weight files of that variant")


def check_runnable(cls: type) -> None:
    """Refuse a class that cannot run on this installation, saying why."""
    name = cls.__name__
    if name in UNRUNNABLE:
        raise ConfigError(f"{name} cannot run here: {UNRUNNABLE[name]}")
    clean = getattr(sys.modules.get(cls.__module__), "basic_clean", None)
    if clean is not None:
        try:
            clean("a prompt")  # the pipeline's own prompt cleaner, as its call will run it
        except NameError as exc:
            raise ConfigError(f"{name} cannot run here: its prompt cleaning needs a package that is missing ({exc})") from None


def check_counts(params: dict, where: str) -> None:
    for key in PER_PROMPT_COUNTS:
        if key in params:
            raise ConfigError(
                f"{where}{key}: not supported; a system makes one video per prompt and sample, each with its recorded seed "
                "(for several samples per prompt, generate with --samples K)"
            )


# -- sizes and frame counts ------------------------------------------------------------------------


def pipeline_shell(cls: type, model_dir: Path, index: dict):
    """The pipeline with its VAE and denoiser built from their configs on the meta device (no weights,
    no memory) and the other components left out: enough for its size factors and `check_inputs`."""
    import diffusers
    from accelerate import init_empty_weights

    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {n: None for n, p in params.items() if n not in ("self", "kwargs") and p.default is p.empty}
    for name in ("vae", "transformer", "unet", "scheduler"):
        entry = index.get(name)
        if name in params and isinstance(entry, list) and entry[1] and hasattr(diffusers, entry[1]):
            component = getattr(diffusers, entry[1])
            with init_empty_weights():
                kwargs[name] = component.from_config(component.load_config(model_dir / name))
    return cls(**kwargs)


def _factor(obj: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _patch(shell: Any) -> int:
    patch = _factor(shell, "transformer_spatial_patch_size")
    if patch:
        return patch
    denoiser = getattr(shell, "transformer", None)
    size = getattr(getattr(denoiser, "config", None), "patch_size", None)
    if isinstance(size, list | tuple):
        return int(size[-1])
    return int(size) if isinstance(size, int) and size > 0 else 1


def _inputs_accept(shell: Any, **values: Any) -> str | None:
    """The pipeline's own `check_inputs` on these sizes: its message when it refuses them, else None."""
    check = getattr(shell, "check_inputs", None)
    if check is None:
        return None
    from PIL import Image

    params = inspect.signature(check).parameters
    known = {"prompt": "a prompt", "image": Image.new("RGB", (values.get("width", 64), values.get("height", 64))), **values}
    kwargs = {n: known.get(n) for n, p in params.items() if n in known or p.default is p.empty}
    try:
        check(**kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        return message if any(k in message for k in values) else None
    return None


def check_geometry(cls: type, params: dict, shell: Any) -> None:
    """height/width: a multiple the model needs; num_frames: a count its VAE does not round."""
    spatial = _factor(
        shell, "vae_spatial_compression_ratio", "vae_scale_factor_spatial", "vae_spatial_scale_factor", "vae_scale_factor"
    ) or 8
    multiple = spatial * _patch(shell)
    sizes = {}
    for dim in ("height", "width"):
        value = params.get(dim)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{dim}={value!r}: must be a positive whole number of pixels")
        if value % multiple:
            nearest = max(multiple, round(value / multiple) * multiple)
            raise ConfigError(
                f"{dim}={value}: {cls.__name__} with this model needs a multiple of {multiple} (VAE factor {spatial} x "
                f"patch {multiple // spatial}); nearest valid: {nearest}"
            )
        sizes[dim] = value
    for dim, value in sizes.items():
        # `check_inputs` often tests both sides at once: each value is tried on both.
        message = _inputs_accept(shell, height=value, width=value)
        if message is None:
            continue
        candidates = sorted(range(multiple, 4 * value + 64 * multiple, multiple), key=lambda c: (abs(c - value), c))
        nearest = next((c for c in candidates if _inputs_accept(shell, height=c, width=c) is None), None)
        raise ConfigError(f"{dim}={value}: {cls.__name__} refuses it ({message}); nearest valid: {nearest}")
    _check_frames(cls, params, shell)


def _check_frames(cls: type, params: dict, shell: Any) -> None:
    frames = params.get("num_frames")
    if frames is None:
        return
    if isinstance(frames, bool) or not isinstance(frames, int) or frames <= 0:
        raise ConfigError(f"num_frames={frames!r}: must be a positive whole number")
    temporal = _factor(shell, "vae_temporal_compression_ratio", "vae_scale_factor_temporal", "vae_temporal_scale_factor") or 1
    # Causal video VAEs keep the first frame and compress the rest: they make 1 + k * temporal frames.
    causal = "(num_frames - 1) //" in inspect.getsource(sys.modules[cls.__module__])
    if causal and temporal > 1 and (frames - 1) % temporal:
        nearest = 1 + max(1, round((frames - 1) / temporal)) * temporal
        made = 1 + (frames - 1) // temporal * temporal
        raise ConfigError(
            f"num_frames={frames}: {cls.__name__} with this model makes 1 + a multiple of {temporal} frames (it would "
            f"give {made}); nearest valid: {nearest}"
        )


# -- scheduler -------------------------------------------------------------------------------------


def check_scheduler(overrides: Any, *, scheduler_name: str | None, where: str) -> None:
    """Check scheduler overrides against the scheduler class's own config keys when we know the class."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: expected KEY=VALUE overrides, e.g. {where}.timestep_spacing=trailing")
    name = overrides.get("class", scheduler_name)
    if name is None:
        return  # a hub model not on this machine: checked when a worker loads it
    allowed = set(inspect.signature(scheduler_class(name).__init__).parameters) - {"self", "kwargs"}
    unknown = sorted(set(overrides) - allowed - {"class"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} for {name}; known: {', '.join(sorted(allowed))}")


def check_scheduler_values(scheduler_cls: type, overrides: dict, model_dir: Path, steps: Any, where: str) -> None:
    """Build the scheduler from the model's config with the overrides and set its timesteps, as a call will."""
    config_path = model_dir / "scheduler" / "scheduler_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    values = {k: v for k, v in overrides.items() if k != "class"}
    shown = ", ".join(f"{where}.{k}={v}" for k, v in values.items()) or f"{where}.class={scheduler_cls.__name__}"
    try:
        scheduler = scheduler_cls.from_config(config, **values)
        kwargs = {}
        if "mu" in inspect.signature(scheduler.set_timesteps).parameters and scheduler.config.get("use_dynamic_shifting"):
            kwargs["mu"] = 1.0  # the pipelines compute it from the image size
        scheduler.set_timesteps(steps if isinstance(steps, int) and steps > 0 else 4, **kwargs)
    except (ValueError, TypeError, KeyError, NotImplementedError, AttributeError) as exc:
        raise ConfigError(f"{shown}: {scheduler_cls.__name__} refuses it: {exc}") from None
