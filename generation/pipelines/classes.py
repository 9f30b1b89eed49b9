"""What a system's configuration names, looked up: diffusers pipeline and scheduler classes, a checkpoint's
model_index.json, a pipeline class's call arguments; and ConfigError, which every check of a configuration raises.

Both sides of the package use these: the configuration's checks when a system is added, and the
worker when it loads and calls a pipeline.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from juice.refusals import Invalid

FACTORIZED = "factorized"
TEXT_TO_VIDEO = "text-to-video"
IMAGE_TO_VIDEO = "image-to-video"
TEXT_TO_IMAGE = "text-to-image"

# Call arguments the service sets itself: a user may not override them.
SERVICE_ARGS = {
    "self", "prompt", "image", "generator", "output_type", "return_dict", "callback", "callback_steps",
    "callback_on_step_end", "callback_on_step_end_tensor_inputs", "latents", "prompt_embeds",
    "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds", "prompt_attention_mask",
    "negative_prompt_attention_mask", "image_embeds", "ip_adapter_image", "ip_adapter_image_embeds", "kwargs",
}


class ConfigError(Invalid):
    """A system configuration that cannot work; the message names the class, key or model."""


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


def user_call_args(cls: type) -> set[str]:
    """The call arguments of a pipeline class that a configuration may set (all but SERVICE_ARGS)."""
    return set(inspect.signature(cls.__call__).parameters) - SERVICE_ARGS


def scheduler_class(name: str) -> type:
    """The diffusers scheduler class called `name`, or a ConfigError."""
    import diffusers

    cls = getattr(diffusers, name, None) if isinstance(name, str) and name.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        raise ConfigError(f"unknown diffusers scheduler class {name!r}")
    return cls


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
