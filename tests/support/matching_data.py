"""Database rows for matching tests: prompt sets, systems and their (real, ffmpeg-made) videos."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from generation.models import Prompt, PromptSet, System, Video
from generation.probe import probe_video


def prompt_set(name: str = "prompts", count: int = 2) -> PromptSet:
    prompts = PromptSet.objects.create(name=name)
    for n in range(count):
        Prompt.objects.create(prompt_set=prompts, key=f"p{n + 1:04d}", position=n, text=f"prompt number {n + 1}")
    return prompts


def external_system(name: str) -> System:
    return System.objects.create(name=name, kind=System.Kind.EXTERNAL)


def add_video(system: System, prompt: Prompt, source: Path, *, probe_like: Path | None = None, sample: int = 0) -> Video:
    """Import `source` as the system's video for the prompt (its sample `sample`), probed as the import does.

    `probe_like` records another file's format instead: a source that went bad after its import.
    """
    name = f"videos/{system.name}/{prompt.key}{f'-{sample}' if sample else ''}{source.suffix}"
    target = Path(settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    info = probe_video(probe_like or target)
    return Video.objects.create(
        system=system, prompt=prompt, sample=sample, file=name, sha256="0" * 64, width=info.width, height=info.height,
        fps=info.fps, frame_count=info.frame_count, duration=info.duration, codec=info.codec,
    )


def create_study(*, name: str, prompt_set: PromptSet, pairs: list[tuple[System, System]], **options):
    """study_create as the API, the page and the command call it, from the rows a test made."""
    from annotation.studies.schemas import StudySpec
    from annotation.studies.services import study_create

    spec = StudySpec(name=name, prompt_set=prompt_set.name, pairs=[(a.name, b.name) for a, b in pairs], **options)
    return study_create(spec=spec)
