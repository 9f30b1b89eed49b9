"""Synthetic test videos made with ffmpeg (lavfi sources), shared by the tests that need real files."""

from __future__ import annotations

from pathlib import Path

import ffmpeg


def make_video(
    path: Path | str,
    *,
    width: int = 64,
    height: int = 48,
    fps: float = 8,
    seconds: float = 1.0,
    source: str = "testsrc2",
    vcodec: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write a short synthetic video; the container follows the file's extension (.mp4, .webm, .gif, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = ffmpeg.input(f"{source}=size={width}x{height}:rate={fps}:duration={seconds}", f="lavfi")
    codec = vcodec or {".webm": "libvpx-vp9", ".gif": "gif", ".mov": "libx264", ".mkv": "libx264"}.get(path.suffix, "libx264")
    options = {"vcodec": codec, **(extra or {})}
    if codec == "libx264":
        options.setdefault("pix_fmt", "yuv420p")
        options.setdefault("preset", "ultrafast")
    if codec == "libvpx-vp9":
        options.setdefault("deadline", "realtime")
    ffmpeg.output(stream, str(path), an=None, **options).overwrite_output().run(quiet=True)
    return path
