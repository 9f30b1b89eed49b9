"""The workers' part of a generation job: a GPU worker claims a batch, makes its frames and hands them to the
media queue; a media worker encodes them to H.264 and stores the Videos.

Every step checks the job's state first (compare-and-swap), so a re-delivered task stops, and a job
cancelled or re-queued meanwhile keeps what happened to it. A failure goes back to the queue until
MAX_ATTEMPTS (queueing.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from generation.encode import video_encode
from generation.heartbeat import Heartbeat
from generation.jobs.queueing import MAX_ATTEMPTS, Status, jobs_enqueue
from generation.models import GenerationJob, Video
from generation.pipelines.run import Request, prompt_source, prompt_text, videos_generate
from generation.pipelines.stage_config import output_fps
from generation.systems.services import system_config
from juice.files import atomic_path, file_sha256
from juice.queue import enqueue_after_commit

log = logging.getLogger(__name__)

TRACEBACK_LINES = 30


def _media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def _frames_name(job: GenerationJob) -> str:
    return f"generation/frames/job{job.pk}-a{job.attempts}.npy"


def _sample_suffix(job: GenerationJob) -> str:
    """Names of sample 0 stay what they were before samples existed."""
    return f"-s{job.sample}" if job.sample else ""


def _first_frame_name(job: GenerationJob) -> str:
    return f"first_frames/{job.system_id}/{job.prompt_id}{_sample_suffix(job)}-a{job.attempts}.png"


class _StepRecord:
    """Where each claimed job's pipeline call is, as videos_generate's `progress` last said: kept in memory,
    since it is told every step from inside the denoising loop; the heartbeat thread writes it."""

    def __init__(self, job_ids: list[int]) -> None:
        self._job_ids = job_ids  # in the order of the requests given to videos_generate
        self._lock = threading.Lock()
        self._now: dict[int, tuple[str, int, int]] = {}
        self._written: dict[int, tuple[str, int, int]] = {}

    def __call__(self, phase: str, requests: list[int], step: int, total: int) -> None:
        with self._lock:
            for i in requests:
                self._now[self._job_ids[i]] = (phase, step, total)

    def changes(self) -> dict[tuple[str, int, int], list[int]]:
        """The jobs whose (phase, step, total) changed since the last call, grouped by it."""
        with self._lock:
            changed = {pk: where for pk, where in self._now.items() if self._written.get(pk) != where}
            self._written.update(changed)
        groups: dict[tuple[str, int, int], list[int]] = {}
        for pk, where in changed.items():
            groups.setdefault(where, []).append(pk)
        return groups


class _Heartbeat:
    """While the pipeline runs, a thread (generation/heartbeat.py) writes the claimed jobs' steps when they
    changed (every JUICE_PROGRESS_SECONDS) and touches their heartbeat (every JUICE_HEARTBEAT_SECONDS: steps
    can be long). `steps` is the record the pipeline's calls report to."""

    def __init__(self, job_ids: list[int], worker: str) -> None:
        self.job_ids, self.worker = job_ids, worker
        self.steps = _StepRecord(job_ids)
        self._thread = Heartbeat(self._beat, period=settings.JUICE_PROGRESS_SECONDS)
        self._beat_at = time.monotonic()

    def _running(self, job_ids: list[int]):
        """Compare-and-swap: only jobs still running on this worker (not cancelled, not re-queued)."""
        return GenerationJob.objects.filter(pk__in=job_ids, status=Status.RUNNING, worker=self.worker)

    def _write_steps(self) -> None:
        for (phase, step, total), job_ids in self.steps.changes().items():
            self._running(job_ids).update(step_phase=phase, step=step, step_count=total)

    def _beat(self) -> None:
        self._write_steps()
        if time.monotonic() - self._beat_at >= settings.JUICE_HEARTBEAT_SECONDS:
            self._running(self.job_ids).update(heartbeat_at=timezone.now())
            self._beat_at = time.monotonic()

    def __enter__(self) -> _Heartbeat:
        self._thread.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._thread.__exit__(*exc)
        # The step the pipeline ended on ("step N of N"), written here on the worker's own connection: a
        # batch shorter than JUICE_PROGRESS_SECONDS then never opens one for the thread. Not after a failure.
        if exc[0] is None:
            self._write_steps()


def _claim(job_ids: list[int], worker: str) -> list[GenerationJob]:
    """Claim the still-queued jobs without a video, by compare-and-swap in one statement; a re-delivered or
    duplicate task claims nothing. `worker` is unique to this call, so it finds what it claimed."""
    now = timezone.now()
    GenerationJob.objects.filter(pk__in=job_ids, status=Status.QUEUED, video__isnull=True).update(
        status=Status.RUNNING, worker=worker, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now,
        step=0, step_count=0, step_phase="",
    )
    claimed = GenerationJob.objects.select_related("system", "prompt").filter(pk__in=job_ids, status=Status.RUNNING, worker=worker)
    order = {job_id: i for i, job_id in enumerate(job_ids)}
    return sorted(claimed, key=lambda job: order[job.pk])


def _traceback_tail() -> str:
    """The last lines of the traceback being handled: where in the pipeline it broke."""
    return "".join(traceback.format_exc().splitlines(keepends=True)[-TRACEBACK_LINES:])[-10000:]


def _fail(jobs: list[GenerationJob], error: str, *, from_status: str, trace: str = "") -> None:
    """Record the error (and the traceback's last lines); retry (back in the queue, with a delay)
    until MAX_ATTEMPTS, then fail for good."""
    retry: dict[int, list[int]] = {}
    with transaction.atomic():
        for job in jobs:
            final = job.attempts >= MAX_ATTEMPTS
            moved = GenerationJob.objects.filter(pk=job.pk, status=from_status, attempts=job.attempts).update(
                status=Status.FAILED if final else Status.QUEUED, error=error[:5000], traceback=trace, worker="",
                finished_at=timezone.now() if final else None,
            )
            if moved and not final:
                retry.setdefault(job.system_id, []).append(job.pk)
        for system_id, ids in retry.items():
            jobs_enqueue(system_id=system_id, job_ids=ids, countdown=settings.JUICE_RETRY_DELAY_SECONDS)


def jobs_run(*, job_ids: list[int]) -> int:
    """Make the frames of the given jobs (one system) in batched calls; hand them to the media queue.

    Returns how many jobs this call generated.
    """
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    jobs = _claim(job_ids, worker)
    if not jobs:
        return 0
    for job in jobs:
        # Frames a killed earlier attempt left half-written are of no use.
        for stale in _media_path("generation/frames").glob(f".job{job.pk}-a*.part.npy"):
            stale.unlink(missing_ok=True)
    try:
        config = system_config(jobs[0].system)
        requests = [
            Request(prompt_source(config.params, j.prompt.text, j.prompt.rewrites), j.seed,
                    Path(j.prompt.image.path) if j.prompt.image else None)
            for j in jobs
        ]
        with _Heartbeat([j.pk for j in jobs], worker) as heartbeat:
            outputs = videos_generate(config=config, requests=requests, progress=heartbeat.steps)
        for job, output in zip(jobs, outputs, strict=True):
            with atomic_path(_media_path(_frames_name(job))) as partial:
                np.save(partial, output.frames)
            if output.first_frame is not None:
                with atomic_path(_media_path(_first_frame_name(job))) as partial:
                    output.first_frame.save(partial, format="PNG")
    except Exception as exc:  # any failure of the model is recorded on its jobs and retried
        log.exception("generation of jobs %s failed", [j.pk for j in jobs])
        close_old_connections()
        _fail(jobs, f"{type(exc).__name__}: {exc}", from_status=Status.RUNNING, trace=_traceback_tail())
        return 0
    from generation.tasks import encode_videos

    with transaction.atomic():
        # One compare-and-swap for the batch; a job cancelled while it ran lost its worker and stays as it is.
        mine = GenerationJob.objects.filter(pk__in=[j.pk for j in jobs], worker=worker)
        used = (When(pk=j.pk, then=Value(prompt_text(config.params, r.prompt))) for j, r in zip(jobs, requests, strict=True))
        mine.filter(status=Status.RUNNING).update(status=Status.ENCODING, heartbeat_at=timezone.now(), prompt_used=Case(*used))
        moved = set(mine.filter(status=Status.ENCODING).values_list("pk", flat=True))
        for job in jobs:
            if job.pk not in moved:  # cancelled while it ran: its frames are of no use
                _media_path(_frames_name(job)).unlink(missing_ok=True)
        # One message for the batch: a media worker's cost per task (the broker, its pool) is paid once.
        handed = [j.pk for j in jobs if j.pk in moved]
        if handed:
            enqueue_after_commit(lambda: encode_videos.delay(handed))
    return len(jobs)


# -- the media worker's part -----------------------------------------------------------------------


def jobs_encode(*, job_ids: list[int]) -> list[Video]:
    """Encode the frames of these jobs (a batch the GPU worker handed over together), one after the other;
    idempotent. Returns the videos this call stored (a job no longer ENCODING is skipped)."""
    jobs = GenerationJob.objects.select_related("system", "prompt").filter(pk__in=job_ids, status=Status.ENCODING).order_by("pk")
    return [video for video in map(_job_encode, jobs) if video is not None]


def _job_encode(job: GenerationJob) -> Video | None:
    """Encode a job's frames to H.264, store the Video (with what the encoder wrote) and finish the job."""
    frames_path = _media_path(_frames_name(job))
    fps = output_fps(job.system.params)
    first_frame = _first_frame_name(job) if _media_path(_first_frame_name(job)).is_file() else ""
    # A random name, as for uploads: a duplicate delivery writes its own file and removes it below.
    final = _media_path(f"videos/{job.system_id}/{job.prompt_id}{_sample_suffix(job)}-{uuid.uuid4().hex[:16]}.mp4")
    try:
        frames = np.load(frames_path)
        with atomic_path(final) as partial:
            info = video_encode(frames=frames, path=partial, fps=fps)
            sha = file_sha256(partial)
    except Exception as exc:  # recorded on the job, which goes back to the GPU queue
        log.exception("encoding job %s failed", job.pk)
        _fail([job], f"encoding failed: {type(exc).__name__}: {exc}", from_status=Status.ENCODING, trace=_traceback_tail())
        return None
    name = str(final.relative_to(settings.MEDIA_ROOT))
    try:
        with transaction.atomic():
            video = Video.objects.create(
                system=job.system, prompt=job.prompt, sample=job.sample, file=name, sha256=sha, width=info.width, height=info.height,
                fps=info.fps, frame_count=info.frame_count, duration=info.duration, codec=info.codec, seed=job.seed,
                first_frame=first_frame,
            )
            # Compare-and-swap: the video is kept only if the job is still this encode's (else it is rolled back).
            if not GenerationJob.objects.filter(pk=job.pk, status=Status.ENCODING, attempts=job.attempts).update(
                status=Status.DONE, error="", finished_at=timezone.now(), video=video
            ):
                raise IntegrityError("the job moved on while it was being encoded")
    except IntegrityError:
        # A duplicate delivery got there first and keeps its own file.
        final.unlink(missing_ok=True)
        return None
    frames_path.unlink(missing_ok=True)
    return video
