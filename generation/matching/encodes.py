"""The encodes of matched videos: one source under one spec (policy.py), made once and shared.

Each side's spec is encoded the way every browser plays and seeks (H.264, yuv420p, even dimensions,
`+faststart`, no audio). A spec is content-addressed: one source matched to one spec is encoded once,
whatever the number of items and studies that show it. A media worker claims an encode by
compare-and-swap, proves itself alive while ffmpeg runs (a heartbeat), and writes it to a temporary
name, renamed when complete; an encode whose worker stopped beating is claimable again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import av
import ffmpeg
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from generation.heartbeat import Heartbeat
from generation.models import MatchedVideo, Video
from generation.probe import ffmpeg_error_line
from juice.files import atomic_path, disk_full, file_sha256

# Part of every content address: changing the encoder settings below must change this, so that
# old encodes are not reused for new studies.
ENCODER_VERSION = "x264-crf18-superfast-1"
ENCODER_OPTIONS = {"vcodec": "libx264", "crf": 18, "preset": "superfast", "pix_fmt": "yuv420p", "movflags": "+faststart"}


def spec_key(spec: dict) -> str:
    """The content address of a spec: sha256 of its canonical JSON and the encoder version."""
    canonical = json.dumps({"spec": spec, "encoder": ENCODER_VERSION}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode_stream(source: Path | str, spec: dict, output: Path | str, *, threads: int = 0):
    """The ffmpeg-python graph that turns `source` into `output` as `spec` says (not yet run)."""
    stream = ffmpeg.input(str(source))
    frames = spec["frames"]
    # Drop frames first (fewer frames to crop and scale); `fps` resamples variable frame rate too.
    video = stream.video.filter("fps", fps=spec["fps"])
    if spec["fit"] == "crop":
        cw, ch, x, y = spec["crop"]
        # Sources already in the target's shape skip the no-op filters (a copy of every frame each).
        if [cw, ch] != spec["source"]:
            video = video.filter("crop", cw, ch, x, y)
        if (cw, ch) != (spec["width"], spec["height"]):
            video = video.filter("scale", spec["width"], spec["height"])
    else:
        sw, sh, x, y = spec["pad"]
        video = video.filter("scale", sw, sh).filter("pad", spec["width"], spec["height"], x, y, color="black")
    video = video.filter("setsar", 1).filter("format", "yuv420p")
    if spec["extend"] == "loop":
        # Loop decoded frames at the target size (small to hold); the input's own looping
        # (-stream_loop) does not work for every demuxer, GIF among them.
        video = video.filter("loop", loop=-1, size=spec["loop_frames"])
    # Freeze holds the last frame; otherwise one held frame only absorbs the rounding of `fps` at
    # the end of the source. `trim` keeps exactly the target's frames, `setpts` spaces them evenly.
    held = frames if spec["extend"] == "freeze" else 1
    video = video.filter("tpad", stop_mode="clone", stop=held).filter("trim", end_frame=frames).filter("setpts", "N/(FRAME_RATE*TB)")
    return (
        ffmpeg.output(
            video, str(output), f="mp4", r=spec["fps"], an=None, sn=None, dn=None,
            map_metadata=-1, map_chapters=-1, threads=threads, **ENCODER_OPTIONS,
        )
        .global_args("-v", "error", "-nostdin")
        .overwrite_output()
    )


def encode_file(source: Path | str, spec: dict, output: Path | str, *, threads: int = 0) -> None:
    """Run the encode; raises `ffmpeg.Error` with ffmpeg's stderr."""
    encode_stream(source, spec, output, threads=threads).run(capture_stdout=True, capture_stderr=True)


def matched_video_get_or_create(*, source: Video, spec: dict) -> MatchedVideo:
    """The one MatchedVideo of `source` under `spec`; the unique constraint makes concurrent callers share it."""
    matched, _ = MatchedVideo.objects.get_or_create(source=source, target_key=spec_key(spec), defaults={"target": spec})
    return matched


def matched_path(matched: MatchedVideo) -> str:
    """Where an encode lives under MEDIA_ROOT (or in a bucket): a hash of source and content address,
    so that even a storage URL names no system, prompt or source file."""
    digest = hashlib.sha256(f"{matched.source_id}:{matched.target_key}".encode()).hexdigest()
    return f"matched/{digest[:2]}/{digest}.mp4"


def _claimable() -> Q:
    """Encodes a worker may take: pending ones, and running ones whose worker stopped proving itself
    alive JUICE_STALE_SECONDS ago (it was lost: killed, its machine gone)."""
    stale = timezone.now() - timedelta(seconds=settings.JUICE_STALE_SECONDS)
    silent = Q(heartbeat_at__lt=stale) | Q(heartbeat_at=None, started_at__lt=stale)  # None: claimed before heartbeats
    return Q(status=MatchedVideo.Status.PENDING) | Q(silent, status=MatchedVideo.Status.RUNNING)


def encodes_to_do(matched_ids: Iterable[int]) -> list[int]:
    """Those of these encodes that still need a worker, in id order."""
    return sorted(MatchedVideo.objects.filter(_claimable(), pk__in=matched_ids).values_list("pk", flat=True))


def matched_video_encode(*, matched_id: int) -> bool:
    """Encode one MatchedVideo if nobody else is; returns whether this call did the work (or recorded its failure).

    Claimed by compare-and-swap, so a re-delivered task or a second item needing the same encode
    finds it running or done and stops. The file is written to a temporary name and renamed.
    """
    now = timezone.now()
    claim = {"status": MatchedVideo.Status.RUNNING, "started_at": now, "heartbeat_at": now, "error": ""}
    if not MatchedVideo.objects.filter(_claimable(), pk=matched_id).update(**claim):
        return False
    matched = MatchedVideo.objects.select_related("source__system", "source__prompt").get(pk=matched_id)
    source = Path(matched.source.file.path)
    name = matched_path(matched)
    spec = matched.target
    started = time.perf_counter()
    target = Path(settings.MEDIA_ROOT) / name
    # What a lost worker was writing when it was killed (atomic_path's temporary names) is of no use.
    for stale in target.parent.glob(f".{target.stem}.*.part{target.suffix}"):
        stale.unlink(missing_ok=True)
    try:
        with atomic_path(target) as partial, Heartbeat(lambda: _touch(matched_id, now), period=settings.JUICE_HEARTBEAT_SECONDS):
            encode_file(source, spec, partial, threads=settings.JUICE_FFMPEG_THREADS)
            encoded = encoded_format(partial)
            expected = {"width": spec["width"], "height": spec["height"], "frame_count": spec["frames"]}
            if {k: encoded[k] for k in expected} != expected:
                raise ValueError(f"the encode has {encoded}, expected {expected}")
            digest = file_sha256(partial)
    except (ffmpeg.Error, ValueError, OSError, av.FFmpegError) as exc:
        return _fail(matched, now, _failure(exc, source, target.parent))
    return bool(
        MatchedVideo.objects.filter(pk=matched_id, status=MatchedVideo.Status.RUNNING, started_at=now).update(
            status=MatchedVideo.Status.READY, file=name, sha256=digest, encode_seconds=round(time.perf_counter() - started, 3), **encoded
        )
    )


def _touch(matched_id: int, claimed_at) -> None:
    """The heartbeat of a running encode; compare-and-swap on the claim, so a worker whose encode was
    taken from it (found stale, claimed again) touches nothing."""
    mine = MatchedVideo.objects.filter(pk=matched_id, status=MatchedVideo.Status.RUNNING, started_at=claimed_at)
    mine.update(heartbeat_at=timezone.now())


def encoded_format(path: Path) -> dict:
    """Our own encode's format from its mp4 header, read in-process: an ffprobe per encode costs more
    than a third of a small clip's encode."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            "width": stream.width,
            "height": stream.height,
            "fps": float(stream.average_rate),
            "frame_count": stream.frames,
            "duration": round(float(stream.duration * stream.time_base), 6),
        }


def _failure(error: Exception, source: Path, folder: Path) -> str:
    """What an encode's failure says: no space left (which Retry fixes once space is freed), what
    ffmpeg said of the source, or why the result was unusable."""
    said_full = isinstance(error, ffmpeg.Error) and b"No space left on device" in (error.stderr or b"")
    if said_full or disk_full(error, folder):
        return "no space left on device under MEDIA_ROOT: free some space, then Retry"
    if isinstance(error, ffmpeg.Error):
        return f"ffmpeg: {ffmpeg_error_line(error.stderr, source)}"
    return f"the encode is unusable: {error}"


def _fail(matched: MatchedVideo, claimed_at, error: str) -> bool:
    label = f"{matched.source.system.name}/{matched.source.prompt.key}"
    MatchedVideo.objects.filter(pk=matched.pk, status=MatchedVideo.Status.RUNNING, started_at=claimed_at).update(
        status=MatchedVideo.Status.FAILED, error=f"{label}: {error}"
    )
    return True


# -- frozen copies: a video whose answer is known, for attention checks ------------------------------


def frozen_copy(*, matched: MatchedVideo) -> MatchedVideo:
    """A ready encode of the first frame of `matched`, held for its whole length (same size, rate and
    frame count), shown against `matched` it loses on quality for sure. Safe to call again: the copy
    is content-addressed like any encode, and encoded once."""
    key = hashlib.sha256(f"attention-frozen:{matched.pk}".encode()).hexdigest()
    existing = MatchedVideo.objects.filter(source_id=matched.source_id, target_key=key).first()
    if existing is not None:
        return existing
    name = f"matched/attention/frozen_{matched.pk}.mp4"
    target = Path(settings.MEDIA_ROOT) / name
    if not target.exists():
        with atomic_path(target) as partial:
            (
                ffmpeg.input(matched.file.path)
                .output(
                    str(partial), vf="trim=end_frame=1,tpad=stop_mode=clone:stop=-1", vframes=matched.frame_count,
                    vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", movflags="+faststart", an=None, f="mp4",
                )
                .overwrite_output()
                .run(quiet=True)
            )
    frozen, _ = MatchedVideo.objects.get_or_create(
        source_id=matched.source_id, target_key=key,
        defaults={
            "target": {"attention": "frozen first frame", "of_matched": matched.pk}, "file": name, "status": MatchedVideo.Status.READY,
            "width": matched.width, "height": matched.height, "fps": matched.fps,
            "frame_count": matched.frame_count, "duration": matched.duration,
        },
    )
    return frozen
