"""Files: uploads to a scratch folder, safe zip extraction, storing under MEDIA_ROOT, atomic writes, hashes.

Importers validate everything in a scratch folder first; only then do files move under MEDIA_ROOT,
each written to a temporary name and renamed, with a random name that reveals nothing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

# Entries macOS and editors add to archives; never user data.
JUNK_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db"}


class UploadError(ValueError):
    """A file or archive that cannot be read as given; the message names it."""


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target` to write the file to; when the block ends without an error
    it is renamed onto `target`, otherwise removed. Readers never see half a file, and a rename
    within one folder is atomic. The temporary name keeps the suffix: some writers choose the
    format by it (`np.save` adds `.npy` to any other name)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.{secrets.token_hex(8)}.part{target.suffix}")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def file_create_once(path: Path, content: str, *, mode: int = 0o600) -> str:
    """`path`'s content, writing `content` there first if the file does not exist yet.

    Of processes racing to create it (several web and Celery workers starting together), exactly one
    succeeds and all read what it wrote: the content goes to a private temporary file, which is then
    hard-linked to `path` (a link never replaces an existing file). Readers never see half of it.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(descriptor, "w") as out:
                out.write(content)
            with contextlib.suppress(FileExistsError):
                os.link(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return path.read_text()


# Below this much free space a write that failed is taken to have failed for lack of space.
NEARLY_FULL_BYTES = 16 * 1024**2


def disk_full(error: BaseException | None, folder: Path) -> bool:
    """Whether `error` (a failed write, an unreadable half-written file) comes from a full disk: the
    error says so (ENOSPC), or the folder's filesystem has next to no space left."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_junk(relative: PurePosixPath | Path) -> bool:
    return any(part in JUNK_PARTS or part.startswith(".") for part in relative.parts)


def materialize(source: Path | str | UploadedFile, scratch: Path) -> tuple[Path, str]:
    """A path on disk for `source` and the name errors should call it.

    A path is used where it lies; an uploaded file is written into `scratch` under its own base name.
    """
    if isinstance(source, UploadedFile):
        name = Path(source.name or "upload").name or "upload"
        target = scratch / name
        with target.open("wb") as out:
            for chunk in source.chunks():
                out.write(chunk)
        return target, name
    path = Path(source)
    if not path.exists():
        raise UploadError(f"{path}: no such file or folder")
    return path, path.name


def zip_extract(archive: Path, dest: Path, *, label: str) -> list[PurePosixPath]:
    """Extract `archive` into `dest` and return the relative paths of its files (junk left out).

    Any entry that would land outside `dest` (`..`, an absolute path, a drive letter) or a link
    rejects the whole archive, naming the entry, before anything is written. So does an archive that
    unpacks to more than `unzip_cap` allows: first by the sizes its entries declare, then by the bytes
    actually written (a crafted archive can declare less than it holds).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{label}: not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            _check_entry(info, label)
        cap = unzip_cap(archive.stat().st_size)
        declared = sum(info.file_size for info in infos)
        if declared > cap:
            raise UploadError(f"{label}: unpacks to {declared:,} bytes, more than the {cap:,} this archive may ({UNZIP_RULE})")
        files, written = [], 0
        for info in infos:
            relative = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir() or is_junk(relative):
                continue
            written += _extract(zf, info, dest.joinpath(*relative.parts), cap - written, label)
            files.append(relative)
        return files


UNZIP_RULE = "JUICE_MAX_UNZIP_RATIO times its size, at most 4 times JUICE_MAX_UPLOAD_BYTES"


def unzip_cap(archive_bytes: int) -> int:
    """The most an archive of this size may unpack to: a zip bomb is refused before it fills the disk."""
    return min(settings.JUICE_MAX_UNZIP_RATIO * archive_bytes, 4 * settings.JUICE_MAX_UPLOAD_BYTES)


def _check_entry(info: zipfile.ZipInfo, label: str) -> None:
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        raise UploadError(f"{label}: entry {name!r} would escape the target folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError(f"{label}: entry {name!r} is a link, not a file")


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, room: int, label: str) -> int:
    """Write one entry to `target`, refusing it once it outgrows `room` bytes; returns its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(info) as src, target.open("wb") as out:
            while block := src.read(1024 * 1024):
                written += len(block)
                if written > room:
                    raise UploadError(f"{label}: entry {info.filename!r} unpacks to more than the archive may ({UNZIP_RULE})")
                out.write(block)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise UploadError(f"{label}: entry {info.filename!r} cannot be read ({exc})") from None
    return written


def media_store(src: Path, *, folder: str) -> tuple[str, str]:
    """Copy `src` under MEDIA_ROOT/`folder` with a random name; return (storage name, sha256)."""
    root = Path(settings.MEDIA_ROOT)
    final = root / folder / f"{secrets.token_hex(16)}{src.suffix.lower()}"
    with atomic_path(final) as partial:
        shutil.copyfile(src, partial)
        digest = file_sha256(partial)
    return final.relative_to(root).as_posix(), digest


def media_remove(names: list[str]) -> None:
    """Remove stored files (by storage name) that a failed or superseded import left behind."""
    root = Path(settings.MEDIA_ROOT)
    for name in names:
        if name:
            (root / name).unlink(missing_ok=True)


@contextlib.contextmanager
def media_staged(paths: Iterable[Path], *, folder: str) -> Iterator[list[tuple[str, str]]]:
    """Store files under MEDIA_ROOT (see `media_store`) for the block to reference in new rows.

    Yields their (name, sha256); if the block raises (its transaction rolled back), they are
    removed again, so a failed import leaves no file behind.
    """
    stored: list[tuple[str, str]] = []
    try:
        for path in paths:
            stored.append(media_store(path, folder=folder))
        yield stored
    except BaseException:
        media_remove([name for name, _ in stored])
        raise
