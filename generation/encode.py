"""Frames to a browser-playable H.264 file with PyAV, which carries its own libx264 (no ffmpeg needed).

Output: H.264, yuv420p, even dimensions (odd ones are padded by repeating the edge), the moov
atom up front (`+faststart`) so browsers start playing before the whole file arrives, no audio.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from generation.probe import ProbeError, VideoInfo


def _even(frames: np.ndarray) -> np.ndarray:
    _, height, width, _ = frames.shape
    pad = ((0, 0), (0, height % 2), (0, width % 2), (0, 0))
    return np.pad(frames, pad, mode="edge") if any(p[1] for p in pad) else frames


def video_encode(*, frames: np.ndarray, path: Path, fps: float, crf: int = 18) -> None:
    """Write `frames` (uint8, frames x height x width x 3) to `path` as an MP4; the caller names a temporary path."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"expected uint8 frames of shape (n, height, width, 3), got {frames.dtype} {frames.shape}")
    frames = np.ascontiguousarray(_even(frames))
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        # One encoder thread: the same frames always give the same bytes (and sha256); threaded x264
        # was seen to differ between runs on a loaded machine. Media workers run encodes side by side.
        stream.codec_context.thread_count = 1
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def video_probe(path: Path | str, *, name: str) -> VideoInfo:
    """Read back what was written, in-process (an ffprobe process per video costs more than the encode)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = sum(1 for packet in container.demux(stream) if packet.size)
            fps = float(stream.average_rate or 0)
            width, height, codec = stream.codec_context.width, stream.codec_context.height, stream.codec_context.name
    except (av.FFmpegError, IndexError) as exc:
        raise ProbeError(f"{name}: not a readable video ({exc})") from None
    if not (width and height and frames and fps):
        raise ProbeError(f"{name}: no decodable frames (width {width}, height {height}, {frames} frames)")
    return VideoInfo(width, height, round(fps, 6), frames, round(frames / fps, 6), codec)


def video_frames(path: Path | str) -> np.ndarray:
    """Decode a video back to uint8 RGB frames (what a viewer sees)."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
