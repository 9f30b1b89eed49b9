"""Registering the systems under evaluation: generated here (a diffusers configuration) or external."""

from __future__ import annotations

from generation.models import System
from generation.pipelines.classes import ConfigError
from generation.pipelines.config import SystemConfig, config_validate
from juice.refusals import Invalid


class SystemInputError(Invalid):
    """A system that cannot be added as asked; the message says why."""


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise SystemInputError("a system needs a name of 1 to 100 characters")
    if System.objects.filter(name=name).exists():
        raise SystemInputError(f"a system named {name!r} already exists")
    return name


def system_add(
    *,
    name: str,
    pipeline: str = "",
    model: str = "",
    params: dict | None = None,
    image_model: str = "",
    image_pipeline: str = "",
    video_pipeline: str = "",
    external: bool = False,
    allow_code: bool = False,
) -> System:
    """Add a generated system (validated configuration) or, with `external`, one whose videos are uploaded.

    `allow_code`: its configuration may name a module of the user's own (the command line only)."""
    name = _check_name(name)
    if external:
        if pipeline or model or params or image_model or image_pipeline or video_pipeline:
            raise SystemInputError("an external system takes no pipeline, model or parameters: its videos are uploaded")
        return System.objects.create(name=name, kind=System.Kind.EXTERNAL)
    if not pipeline or not model:
        raise SystemInputError("a generated system needs --pipeline CLASS and --model PATH_OR_ID (or --external)")
    params = params or {}
    try:
        classes = config_validate(
            pipeline=pipeline, model=model, params=params,
            image_pipeline=image_pipeline, image_model=image_model, video_pipeline=video_pipeline, allow_code=allow_code,
        )
    except ConfigError as exc:
        raise SystemInputError(f"system {name}: {exc}") from None
    return System.objects.create(
        name=name, kind=System.Kind.GENERATED, model=model, image_model=image_model, params=params, **classes
    )


def system_config(system: System) -> SystemConfig:
    """What a worker needs to generate this system's videos."""
    if system.kind != System.Kind.GENERATED:
        raise SystemInputError(f"system {system.name} is external: its videos are uploaded, not generated")
    return SystemConfig(
        pipeline=system.pipeline, model=system.model, params=system.params,
        image_pipeline=system.image_pipeline, image_model=system.image_model, video_pipeline=system.video_pipeline,
    )
