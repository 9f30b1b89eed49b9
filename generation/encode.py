"""Frames to a browser-playable H.264 file with PyAV, which carries its own libx264 (no ffmpeg needed).

Output: H.264, yuv420p, even dimensions (odd ones are padded by repeating the edge), the moov
atom up front (`+faststart`) so browsers start playing before the whole file arrives, no audio.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from generation.probe import VideoInfo


def _even(frames: np.ndarray) -> np.ndarray:
    _, height, width, _ = frames.shape
    pad = ((0, 0), (0, height % 2), (0, width % 2), (0, 0))
    return np.pad(frames, pad, mode="edge") if any(p[1] for p in pad) else frames


def video_encode(*, frames: np.ndarray, path: Path, fps: float, crf: int = 18) -> VideoInfo:
    """Write `frames` (uint8, frames x height x width x 3) to `path` as an MP4; the caller names a temporary path.

    Returns what was written (size, rate, the frames the muxer took), so the caller need not read the file back."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"expected uint8 frames of shape (n, height, width, 3), got {frames.dtype} {frames.shape}")
    frames = np.ascontiguousarray(_even(frames))
    rate, (height, width), written = Fraction(fps).limit_denominator(1001), frames.shape[1:3], 0
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        # One encoder thread: the same frames always give the same bytes (and sha256); threaded x264
        # was seen to differ between runs on a loaded machine. Media workers run encodes side by side.
        stream.codec_context.thread_count = 1
        for array in [*frames, None]:  # None flushes the encoder
            packets = stream.encode(None if array is None else av.VideoFrame.from_ndarray(array, format="rgb24"))
            written += sum(1 for packet in packets if packet.size)
            container.mux(packets)
    if written != len(frames):
        raise ValueError(f"the encoder wrote {written} frames of {len(frames)}")
    return VideoInfo(width, height, round(float(rate), 6), written, round(float(written / rate), 6), "h264")


def video_frames(path: Path | str) -> np.ndarray:
    """Decode a video back to uint8 RGB frames (what a viewer sees)."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
