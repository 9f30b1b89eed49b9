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
    rotate: int = 0,
    vfr: bool = False,
) -> Path:
    """Write a short synthetic video; the container follows the file's extension (.mp4, .webm, .gif, ...).

    `rotate` stores rotation metadata (players show the video turned); `vfr` spaces the frames
    unevenly (variable frame rate, as phone and screen recordings are).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = ffmpeg.input(f"{source}=size={width}x{height}:rate={fps}:duration={seconds}", f="lavfi")
    extra = dict(extra or {})
    if vfr:
        # Every other frame comes half a frame late: timestamps 0, 1.5, 2, 3.5, ... frame periods.
        stream = stream.filter("settb", "1/1000").filter("setpts", f"(N+0.5*mod(N,2))/({fps}*TB)")
        extra.update(vsync="vfr", enc_time_base="1/1000")
    codec = vcodec or {".webm": "libvpx-vp9", ".gif": "gif", ".mov": "libx264", ".mkv": "libx264"}.get(path.suffix, "libx264")
    options = {"vcodec": codec, **extra}
    if codec == "libx264":
        options.setdefault("pix_fmt", "yuv420p")
        options.setdefault("preset", "ultrafast")
    if codec == "libvpx-vp9":
        options.setdefault("deadline", "realtime")
    ffmpeg.output(stream, str(path), an=None, **options).overwrite_output().run(quiet=True)
    if rotate:
        # ffmpeg 5 applies a rotate tag only when copying, so rotation is a second, lossless pass.
        turned = path.with_name(f"rotated-{path.name}")
        ffmpeg.input(str(path)).output(str(turned), c="copy", **{"metadata:s:v:0": f"rotate={rotate}"}).overwrite_output().run(quiet=True)
        turned.replace(path)
    return path


def make_bands(path: Path | str, *, colors: list[str], band_width: int, height: int, fps: float = 8, seconds: float = 1.0) -> Path:
    """A video of vertical bands of solid colour, left to right: to check where content lands after crop or pad."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bands = [ffmpeg.input(f"color=c={c}:size={band_width}x{height}:rate={fps}:duration={seconds}", f="lavfi") for c in colors]
    stream = ffmpeg.filter(bands, "hstack", inputs=len(bands)) if len(bands) > 1 else bands[0]
    ffmpeg.output(stream, str(path), vcodec="libx264", pix_fmt="yuv420p", preset="ultrafast", qp=0).overwrite_output().run(quiet=True)
    return path


def frame_rgb(path: Path | str, *, index: int = 0) -> tuple[int, int, bytes]:
    """Frame `index` of a video as (width, height, rgb24 bytes), decoded by ffmpeg."""
    info = next(s for s in ffmpeg.probe(str(path))["streams"] if s["codec_type"] == "video")
    width, height = int(info["width"]), int(info["height"])
    raw, _ = (
        ffmpeg.input(str(path)).filter("select", f"eq(n,{index})").output("pipe:", vframes=1, format="rawvideo", pix_fmt="rgb24")
        .run(capture_stdout=True, capture_stderr=True)
    )
    return width, height, raw
