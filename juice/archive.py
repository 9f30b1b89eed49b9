"""Archives of a deployment or a study: a tar file whose last member, manifest.json, holds the sha256
and size of every other member.

Written to a temporary name beside the target and renamed at the end, so a half-written archive never
carries the target's name. Read back by extracting into a scratch folder and checking every member
against the manifest before the caller changes anything: a damaged or tampered archive is refused.
The members are not compressed: videos are compressed already.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from juice.files import atomic_path, disk_full, file_sha256

MANIFEST = "manifest.json"
Progress = Callable[[str], None]


class ArchiveError(Exception):
    """An archive that cannot be written or read as asked; the message says why and what to do."""


@dataclass
class ArchiveWriter:
    """Members added one by one to an open tar file, their checksums kept for the manifest."""

    tar: tarfile.TarFile
    files: dict[str, dict] = field(default_factory=dict)

    def add_file(self, source: Path, name: str) -> None:
        """Add `source` as member `name`, hashing the bytes as they are written."""
        info = self.tar.gettarinfo(str(source), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        digest = hashlib.sha256()
        with open(source, "rb") as handle:
            self.tar.addfile(info, _Hashing(handle, digest))
        self.files[name] = {"sha256": digest.hexdigest(), "bytes": info.size}

    def add_bytes(self, data: bytes, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode, info.mtime = 0o600, int(time.time())
        self.tar.addfile(info, _BytesReader(data))
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


class _Hashing:
    def __init__(self, handle, digest):
        self.handle, self.digest = handle, digest

    def read(self, size: int = -1) -> bytes:
        block = self.handle.read(size)
        self.digest.update(block)
        return block


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        block, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return block


def archive_write(target: Path, fill: Callable[[ArchiveWriter], dict], *, what: str) -> dict:
    """Write the archive `target`: `fill` adds the members and returns the manifest's other keys.

    Refuses a target that exists or whose folder does not; a full disk is said in words. Returns the
    manifest written.
    """
    if target.exists():
        raise ArchiveError(f"{target} already exists: name a new file (a {what} never overwrites one)")
    if not target.parent.is_dir():
        raise ArchiveError(f"{target.parent}: no such folder")
    try:
        with atomic_path(target) as partial, tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            writer = ArchiveWriter(tar)
            manifest = {**fill(writer), "files": writer.files}
            writer.add_bytes(json.dumps(manifest, indent=1, sort_keys=True).encode(), MANIFEST)
    except OSError as exc:
        if disk_full(exc, target.parent):
            raise ArchiveError(
                f"no space left on the device of {target.parent} while writing the {what}: free some space "
                f"(or write it to another disk) and run it again; nothing was left behind"
            ) from None
        raise ArchiveError(f"could not write {target}: {exc}") from None
    return manifest


def archive_megabytes(manifest: dict) -> float:
    """The size of the files an archive's manifest lists, in MB (as the commands report it)."""
    return sum(entry["bytes"] for entry in manifest["files"].values()) / 1e6


def archive_manifest(source: Path, *, kind: str) -> dict:
    """The manifest of the archive `source`, which must be of `kind` (its "format" key)."""
    if not source.is_file():
        raise ArchiveError(f"{source}: no such file")
    try:
        with tarfile.open(source, "r:") as tar:
            member = tar.getmember(MANIFEST)
            manifest = json.loads(tar.extractfile(member).read())
    except KeyError:
        raise ArchiveError(f"{source} has no {MANIFEST}: it is not a JUICE {kind} archive") from None
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise ArchiveError(f"{source} is not a readable archive ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != kind:
        raise ArchiveError(f"{source} is not a JUICE {kind} archive (its manifest says {manifest.get('format')!r})")
    return manifest


def archive_extract(source: Path, manifest: dict, scratch: Path, *, progress: Progress) -> None:
    """Extract `source` into `scratch` and check every member against `manifest`: its files, no more and
    no fewer, each with its size and sha256. Links, absolute names and `..` are refused by the tar
    "data" filter. Raises ArchiveError naming the first mismatch."""
    expected = manifest.get("files") or {}
    try:
        with tarfile.open(source, "r:") as tar:
            names = {m.name for m in tar.getmembers() if m.isfile()} - {MANIFEST}
            if names != set(expected):
                extra, missing = sorted(names - set(expected)), sorted(set(expected) - names)
                raise ArchiveError(f"{source} is damaged: members not in its manifest {extra[:5]}, missing {missing[:5]}")
            tar.extractall(scratch, members=[m for m in tar.getmembers() if m.name in expected], filter="data")
    except (tarfile.TarError, OSError) as exc:
        if isinstance(exc, OSError) and disk_full(exc, scratch):
            raise ArchiveError(f"no space left on the device of {scratch} to unpack {source}: free some space") from None
        raise ArchiveError(f"{source} cannot be unpacked ({exc})") from None
    progress(f"Checking the sha256 of {len(expected)} files ...")
    for name, entry in sorted(expected.items()):
        path = scratch / name
        if path.stat().st_size != entry["bytes"] or file_sha256(path) != entry["sha256"]:
            raise ArchiveError(f"{source} is damaged: {name} does not match the checksum in its manifest; nothing was changed")


def scratch_folder(folder: Path, *, prefix: str) -> Path:
    """A new private folder inside `folder` (on its filesystem, so that files move out of it by renaming)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=folder))


def scratch_remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
