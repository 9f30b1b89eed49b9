"""Importing an external system's videos: a folder or .zip of `<prompt id>.<ext>` files.

Every file is probed and fully decoded in a scratch folder first; only when all are good are
they stored under MEDIA_ROOT (random names: annotators must never learn the system) and their
rows created in one transaction. On any error nothing is imported and nothing is left behind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.db.models import ProtectedError

from generation.models import Prompt, PromptSet, System, Video
from generation.probe import ProbeError, VideoInfo, probe_video
from juice.files import UploadError, is_junk, materialize, media_remove, media_staged, zip_extract
from juice.refusals import Invalid

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".gif")
# Errors are collected over all files so one upload shows every problem; the list is cut here.
MAX_ERRORS_SHOWN = 20

Progress = Callable[[Iterable, int], Iterable]


class VideoImportError(Invalid):
    """Videos that cannot be imported; the message names each rejected file and why."""


@dataclass
class Checked:
    name: str
    path: Path
    prompt: Prompt
    info: VideoInfo


def videos_import(
    *,
    system: System,
    prompt_set: PromptSet,
    source: Path | str | UploadedFile,
    replace: bool = False,
    progress: Progress | None = None,
) -> list[Video]:
    """Import the videos in `source` for `system`, one per prompt of `prompt_set`, all or nothing.

    A prompt that already has a video of this system is an error unless `replace`; a video
    already shown in a study is never replaced. `progress` wraps the probing loop (a tqdm bar).
    """
    if system.kind != System.Kind.EXTERNAL:
        raise VideoImportError(f"system {system.name!r} is {system.kind}: only an external system's videos are uploaded")
    with tempfile.TemporaryDirectory(prefix="juice-videos-") as scratch:
        try:
            path, label = materialize(source, Path(scratch))
            files = _list_files(path, label, Path(scratch))
        except UploadError as exc:
            raise VideoImportError(str(exc)) from None
        checked = _check(files, label, system, prompt_set, replace, progress)
        return _save(system, checked)


def _list_files(path: Path, label: str, scratch: Path) -> list[tuple[str, Path]]:
    """(name shown in errors, path on disk) for every file of the folder or zip."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and not is_junk(p.relative_to(path)))
        files = [(p.relative_to(path).as_posix(), p) for p in found]
    elif path.suffix.lower() == ".zip":
        root = scratch / "unzipped"
        files = [(f"{label}/{rel}", root.joinpath(*rel.parts)) for rel in sorted(zip_extract(path, root, label=label))]
    else:
        raise UploadError(f"{label}: give a folder or a .zip of <prompt id>.<ext> video files")
    if not files:
        raise UploadError(f"{label}: contains no files")
    return files


def _check(
    files: list[tuple[str, Path]], label: str, system: System, prompt_set: PromptSet, replace: bool, progress: Progress | None
) -> list[Checked]:
    prompts = {p.key: p for p in prompt_set.prompts.all()}
    existing = set(Video.objects.filter(system=system, prompt__prompt_set=prompt_set).values_list("prompt__key", flat=True))
    errors: list[str] = []
    seen: dict[str, str] = {}
    candidates = []
    for name, path in files:
        stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            errors.append(f"{name}: not a video file name; expected <prompt id>.mp4 (or .webm, .mov, .mkv, .gif)")
        elif stem not in prompts:
            errors.append(f"{name}: no prompt with id {stem!r} in prompt set {prompt_set.name!r}")
        elif stem in seen:
            errors.append(f"{name}: a second video for prompt {stem!r} (also {seen[stem]})")
        elif stem in existing and not replace:
            errors.append(f"{name}: system {system.name!r} already has a video for prompt {stem!r}; import with replace to overwrite it")
        else:
            seen[stem] = name
            candidates.append((name, path, prompts[stem]))
    checked = []
    loop = progress(candidates, len(candidates)) if progress else candidates
    for name, path, prompt in loop:
        try:
            checked.append(Checked(name, path, prompt, probe_video(path, name=name)))
        except ProbeError as exc:
            errors.append(str(exc))
    if replace and checked:
        used = videos_in_use(Video.objects.filter(system=system, prompt__in=[c.prompt for c in checked]))
        errors += [f"{seen[key]}: the video of prompt {key!r} is used in a study and cannot be replaced" for key in sorted(used)]
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        head = f"{label}: nothing imported; " + ("1 problem:" if len(errors) == 1 else f"{len(errors)} problems:")
        raise VideoImportError("\n".join([head, *shown]) + more)
    return checked


def videos_in_use(videos: models.QuerySet[Video]) -> set[str]:
    """The prompt ids of those `videos` that other rows protect from deletion (a study's items show
    them). Found through the relations that point here with PROTECT, whoever owns them: what
    deleting the video would refuse, asked before anything is deleted."""
    used: set[str] = set()
    # include_hidden: items point here without a reverse accessor (related_name "+").
    relations = [f for f in Video._meta.get_fields(include_hidden=True) if f.auto_created and not f.concrete and f.is_relation]
    for relation in relations:
        if relation.on_delete is models.PROTECT:
            referring = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": videos})
            used.update(referring.values_list(f"{relation.field.name}__prompt__key", flat=True))
    return used


def _save(system: System, checked: list[Checked]) -> list[Video]:
    with media_staged((c.path for c in checked), folder="videos") as staged, transaction.atomic():
        old = Video.objects.select_for_update().filter(system=system, prompt__in=[c.prompt for c in checked])
        old_files = [v.file.name for v in old]
        try:
            old.delete()
        except ProtectedError:
            # A study took one of these videos after the check above.
            raise VideoImportError("nothing imported: a video to replace is now used in a study") from None
        videos = Video.objects.bulk_create(
            Video(
                system=system, prompt=c.prompt, file=name, sha256=sha256, width=c.info.width, height=c.info.height,
                fps=c.info.fps, frame_count=c.info.frame_count, duration=c.info.duration, codec=c.info.codec,
            )
            for c, (name, sha256) in zip(checked, staged, strict=True)
        )
        # Replaced files go only once the new rows are committed.
        transaction.on_commit(lambda: media_remove(old_files))
    return videos
