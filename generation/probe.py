"""ffprobe through ffmpeg-python: what a video file is, or a clear reason it is not a usable video."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
from django.conf import settings


class ProbeError(ValueError):
    """The file is not a decodable video; the message names the file and says why."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    codec: str
    rotation: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _rate(value: str | None) -> float:
    if not value or value in {"0/0", "0"}:
        return 0.0
    return float(Fraction(value))


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"]) % 360
    return int(stream.get("tags", {}).get("rotate", 0)) % 360


def probe_video(path: Path | str, *, name: str | None = None, decode: bool = True) -> VideoInfo:
    """Probe `path`; with `decode`, also decode every frame so a truncated or corrupt file is caught.

    `name` is what error messages call the file (an upload's original name, say).
    """
    path = Path(path)
    label = name or path.name
    if not path.is_file() or path.stat().st_size == 0:
        raise ProbeError(f"{label}: empty file, not a video")
    try:
        meta = ffmpeg.probe(str(path), count_packets=None)
    except ffmpeg.Error as exc:
        raise ProbeError(f"{label}: not a readable video ({ffmpeg_error_line(exc.stderr, path)})") from None
    streams = [s for s in meta.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        raise ProbeError(f"{label}: contains no video stream")
    stream = streams[0]
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    frames = int(stream.get("nb_read_packets") or stream.get("nb_frames") or 0)
    duration = float(stream.get("duration") or meta.get("format", {}).get("duration") or 0)
    if frames and not duration and fps:
        duration = frames / fps
    if frames and duration and not fps:
        fps = frames / duration
    if width <= 0 or height <= 0 or frames <= 0 or fps <= 0:
        raise ProbeError(f"{label}: no decodable frames (width {width}, height {height}, {frames} frames)")
    rotation = _rotation(stream)
    if rotation in (90, 270):
        width, height = height, width
    _check_limits(label, width, height, frames, duration)
    if decode:
        _check_decodes(path, label)
    return VideoInfo(width, height, round(fps, 6), frames, round(duration, 6), stream.get("codec_name", "?"), rotation)


def _check_limits(label: str, width: int, height: int, frames: int, seconds: float) -> None:
    """Refuse, before anything is decoded, a video larger than the site takes: decoding a huge frame
    or millions of tiny ones would exhaust a worker's memory or time (JUICE_MAX_VIDEO_*)."""
    limits = settings.JUICE_MAX_VIDEO_WIDTH, settings.JUICE_MAX_VIDEO_HEIGHT
    if width > limits[0] or height > limits[1]:
        raise ProbeError(f"{label}: {width}x{height} is larger than the {limits[0]}x{limits[1]} allowed "
                         "(JUICE_MAX_VIDEO_WIDTH, JUICE_MAX_VIDEO_HEIGHT)")
    most_frames, most_seconds = settings.JUICE_MAX_VIDEO_FRAMES, settings.JUICE_MAX_VIDEO_SECONDS
    if frames > most_frames:
        raise ProbeError(f"{label}: {frames:,} frames, more than the {most_frames:,} allowed (JUICE_MAX_VIDEO_FRAMES)")
    if seconds > most_seconds:
        raise ProbeError(f"{label}: {seconds:g} s long, more than the {most_seconds} s allowed (JUICE_MAX_VIDEO_SECONDS)")


def _check_decodes(path: Path, label: str) -> None:
    try:
        ffmpeg.input(str(path)).output("-", f="null").global_args("-v", "error", "-xerror").run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as exc:
        raise ProbeError(f"{label}: the video is damaged or truncated ({ffmpeg_error_line(exc.stderr, path)})") from None


def ffmpeg_error_line(stderr: bytes | None, path: Path) -> str:
    """ffmpeg's last complaint, without our (temporary) path in it."""
    lines = [line for line in (stderr or b"").decode(errors="replace").splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "ffmpeg could not read it"
    return last.replace(f"{path}: ", "").replace(str(path), path.name)
