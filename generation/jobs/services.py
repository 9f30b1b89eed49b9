"""Generation jobs: queueing a prompt set for a system, running them on a worker, progress, recovery.

A job's life: QUEUED -> RUNNING (a GPU worker claimed it by compare-and-swap and makes the
frames) -> ENCODING (the frames wait on shared storage; a media worker encodes them to H.264 and
stores the Video) -> DONE. A failure records its error and goes back to QUEUED until MAX_ATTEMPTS,
then FAILED. A RUNNING job whose worker died stops sending heartbeats; `jobs_requeue_stale` puts
it back in the queue. Every step checks the job's state first, so a re-delivered task stops.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.utils import timezone

from generation.encode import video_encode
from generation.models import GenerationJob, PromptSet, System, Video
from generation.pipelines import Request, prompt_source, prompt_text, videos_generate
from generation.stages import output_fps
from generation.systems.services import SystemInputError, system_config
from juice.files import atomic_path, file_sha256
from juice.queue import enqueue_after_commit, queue_length

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
TRACEBACK_LINES = 30
Status = GenerationJob.Status


class JobError(ValueError):
    """Generation that cannot be queued as asked; the message says why."""


# -- queueing --------------------------------------------------------------------------------------


@dataclass
class Queued:
    queued: int
    skipped: int
    job_ids: list[int] = field(default_factory=list)


def _enqueue(job_ids: list[int], batch_size: int, countdown: int = 0) -> None:
    """Send these jobs (of one system) to the gpu queue in batches, after commit; they are queued from now."""
    from generation.tasks import generate_videos

    GenerationJob.objects.filter(pk__in=job_ids).update(queued_at=timezone.now() + timedelta(seconds=countdown))
    for start in range(0, len(job_ids), batch_size):
        chunk = job_ids[start : start + batch_size]
        enqueue_after_commit(lambda chunk=chunk: generate_videos.apply_async((chunk,), countdown=countdown))


# A sample's seed is its prompt's plus SAMPLE_SEED_STRIDE per sample: more than any prompt position
# (a prompt set has at most 100,000 prompts), so no two (prompt, sample) of a system share a seed.
SAMPLE_SEED_STRIDE = 1_000_000
MAX_SAMPLES = 100


def sample_seed(*, base: int, position: int, sample: int) -> int:
    """The seed of sample `sample` of the prompt at `position`; sample 0's is `base + position`."""
    return base + position + sample * SAMPLE_SEED_STRIDE


def _queue_checked(system: System, prompt_set: PromptSet, samples: int) -> tuple[list, int]:
    """The prompts to queue and the system's batch size, or JobError saying why they cannot be."""
    if not 1 <= samples <= MAX_SAMPLES:
        raise JobError(f"samples must be from 1 to {MAX_SAMPLES}, not {samples}")
    try:
        config = system_config(system)
    except SystemInputError as exc:
        raise JobError(str(exc)) from None
    prompts = list(prompt_set.prompts.order_by("position"))
    _check_prompts(system, config, prompt_set, prompts)
    return prompts, config.batch_size


@transaction.atomic
def generation_queue(*, system: System, prompt_set: PromptSet, seed: int | None = None, samples: int = 1) -> Queued:
    """Queue one job per prompt and sample (0..samples-1) that has no video yet; failed jobs start over,
    running ones are left alone.

    Each video's seed is `sample_seed`: the base seed (`seed`, else the system's `seed` parameter,
    else 0) plus the prompt's position, plus SAMPLE_SEED_STRIDE per sample; it is recorded on the
    job and the video so a re-run reproduces it.
    """
    prompts, batch_size = _queue_checked(system, prompt_set, samples)
    base = int(system.params.get("seed", 0)) if seed is None else seed
    done = set(Video.objects.filter(system=system, prompt__in=prompts).values_list("prompt_id", "sample"))
    jobs = {
        (j.prompt_id, j.sample): j
        for j in GenerationJob.objects.select_for_update().filter(system=system, prompt__in=prompts, sample__lt=samples)
    }
    to_run, skipped = [], 0
    for prompt in prompts:
        for sample in range(samples):
            job = jobs.get((prompt.pk, sample))
            if (prompt.pk, sample) in done or (job and job.status in (Status.RUNNING, Status.ENCODING, Status.DONE)):
                skipped += 1
                continue
            job_seed = sample_seed(base=base, position=prompt.position, sample=sample)
            if job is None:
                job = GenerationJob.objects.create(system=system, prompt=prompt, sample=sample, seed=job_seed)
            else:
                GenerationJob.objects.filter(pk=job.pk).update(
                    seed=job_seed, status=Status.QUEUED, attempts=0, error="", traceback="", worker=""
                )
            to_run.append(job.pk)
    _enqueue(to_run, batch_size)
    return Queued(queued=len(to_run), skipped=skipped, job_ids=to_run)


def _check_prompts(system: System, config, prompt_set: PromptSet, prompts: list) -> None:
    """Every prompt has what the system needs: an image to animate, a text in the system's prompt column."""
    if not prompts:
        raise JobError(f"prompt set {prompt_set.name!r} has no prompts")
    if config.needs_image:
        missing = [p.key for p in prompts if not p.image]
        if missing:
            raise JobError(
                f"system {system.name} animates the prompts' images, but {len(missing)} prompt(s) have none: {', '.join(missing[:10])}"
            )
    column = config.params.get("prompt_column")
    if column is not None:
        missing = [p.key for p in prompts if column not in p.rewrites]
        if missing:
            raise JobError(
                f"system {system.name} takes its prompts from the column prompt:{column}, but {len(missing)} prompt(s) of "
                f"{prompt_set.name!r} have no text there: {', '.join(missing[:10])}"
            )


def _jobs_of(system: System, prompt_set: PromptSet | None, job_id: int | None):
    jobs = GenerationJob.objects.filter(system=system)
    if prompt_set is not None:
        jobs = jobs.filter(prompt__prompt_set=prompt_set)
    return jobs.filter(pk=job_id) if job_id is not None else jobs


@transaction.atomic
def jobs_retry(*, system: System, prompt_set: PromptSet | None = None, job_id: int | None = None) -> int:
    """Queue again one failed job of `system`, or all of them (of one prompt set, or of all); each
    starts over with its attempts at zero. Returns how many were queued."""
    ids = list(_jobs_of(system, prompt_set, job_id).select_for_update().filter(status=Status.FAILED).values_list("pk", flat=True))
    GenerationJob.objects.filter(pk__in=ids, status=Status.FAILED).update(
        status=Status.QUEUED, attempts=0, error="", traceback="", worker="", finished_at=None
    )
    if ids:
        _enqueue(ids, system_config(system).batch_size)
    return len(ids)


CANCELLABLE = (Status.QUEUED, Status.RUNNING, Status.FAILED)


def jobs_cancel(*, system: System, prompt_set: PromptSet | None = None, job_id: int | None = None,
                statuses: tuple[str, ...] = CANCELLABLE) -> int:
    """Call off one job of `system`, or all its jobs in `statuses` (of one prompt set, or of all):
    no worker claims them, and a worker making one now finds it cancelled and stores nothing (its
    updates are compare-and-swap on RUNNING). Generating the set again starts them over."""
    return _jobs_of(system, prompt_set, job_id).filter(status__in=statuses).update(
        status=Status.CANCELLED, worker="", finished_at=timezone.now()
    )


# -- progress --------------------------------------------------------------------------------------


@dataclass
class ErrorGroup:
    """Failed jobs of one system that failed the same way."""

    error: str
    traceback: str  # of the first of them
    jobs: list[tuple[int, str]]  # (job id, prompt id with its sample when not 0)


@dataclass
class RunningJob:
    """A job a worker is making, and where its pipeline call is (step_count 0: not known, or not reported)."""

    label: str  # the prompt id, with its sample when not 0
    phase: str
    step: int
    step_count: int


@dataclass
class Progress:
    system: System
    total: int
    queued: int
    running: int
    done: int
    failed: int
    errors: list[tuple[str, str]]  # (prompt id, with its sample when not 0; error) of failed jobs
    cancelled: int = 0
    error_groups: list[ErrorGroup] = field(default_factory=list)  # the failed jobs grouped by their error
    running_jobs: list[RunningJob] = field(default_factory=list)  # the jobs being generated (not those encoding)

    @property
    def finished(self) -> bool:
        return self.queued == 0 and self.running == 0


def _job_label(job: GenerationJob) -> str:
    return job.prompt.key + (f" (sample {job.sample})" if job.sample else "")


def _running_jobs(jobs, systems: list[System]) -> dict[int, list[RunningJob]]:
    """Per system, its running jobs with their step, in prompt order."""
    running: dict[int, list[RunningJob]] = {}
    for job in jobs.filter(system__in=systems, status=Status.RUNNING).select_related("prompt").order_by("prompt__position", "sample"):
        running.setdefault(job.system_id, []).append(RunningJob(_job_label(job), job.step_phase, job.step, job.step_count))
    return running


def generation_progress(*, systems: list[System] | None = None, prompt_set: PromptSet | None = None) -> list[Progress]:
    """Per generated system: how many jobs are queued, running (or encoding), done and failed, with the errors,
    and the step each running job is at."""
    jobs = GenerationJob.objects.all()
    if prompt_set is not None:
        jobs = jobs.filter(prompt__prompt_set=prompt_set)
    systems = systems if systems is not None else list(System.objects.filter(kind=System.Kind.GENERATED).order_by("name"))
    counts = {
        row["system_id"]: row
        for row in jobs.filter(system__in=systems).values("system_id").annotate(
            total=Count("id"),
            queued=Count("id", filter=Q(status=Status.QUEUED)),
            running=Count("id", filter=Q(status__in=[Status.RUNNING, Status.ENCODING])),
            done=Count("id", filter=Q(status=Status.DONE)),
            failed=Count("id", filter=Q(status=Status.FAILED)),
            cancelled=Count("id", filter=Q(status=Status.CANCELLED)),
        )
    }
    errors: dict[int, list] = {}
    groups: dict[int, dict[str, ErrorGroup]] = {}
    for job in jobs.filter(system__in=systems, status=Status.FAILED).select_related("prompt").order_by("prompt__position", "sample"):
        label = _job_label(job)
        errors.setdefault(job.system_id, []).append((label, job.error))
        group = groups.setdefault(job.system_id, {}).setdefault(job.error, ErrorGroup(job.error, job.traceback, []))
        group.jobs.append((job.pk, label))
    empty = {"total": 0, "queued": 0, "running": 0, "done": 0, "failed": 0, "cancelled": 0}
    running = _running_jobs(jobs, systems)
    return [
        Progress(system=s, **{k: counts.get(s.pk, empty)[k] for k in empty}, errors=errors.get(s.pk, []),
                 error_groups=list(groups.get(s.pk, {}).values()), running_jobs=running.get(s.pk, []))
        for s in systems
    ]


# -- recovery --------------------------------------------------------------------------------------


def jobs_requeue_stale(*, older_than: timedelta | None = None) -> int:
    """Re-queue RUNNING jobs whose worker stopped sending heartbeats, and re-send stuck encodes.

    A job whose worker was lost MAX_ATTEMPTS times fails instead (it may be what kills workers).
    Returns how many jobs were put back.
    """
    older_than = older_than or timedelta(seconds=settings.JUICE_STALE_SECONDS)
    cutoff = timezone.now() - older_than
    requeued: dict[int, list[int]] = {}
    for job in GenerationJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).select_related("system"):
        error = f"worker {job.worker} lost (no heartbeat since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)"
        gave_up = job.attempts >= MAX_ATTEMPTS
        with transaction.atomic():
            # Compare-and-swap on the heartbeat: a worker that is alive after all keeps its job.
            moved = GenerationJob.objects.filter(pk=job.pk, status=Status.RUNNING, heartbeat_at=job.heartbeat_at).update(
                status=Status.FAILED if gave_up else Status.QUEUED, error=error, worker="",
                finished_at=timezone.now() if gave_up else None,
            )
            if moved and not gave_up:
                requeued.setdefault(job.system_id, []).append(job.pk)
    for system_id, ids in requeued.items():
        with transaction.atomic():
            _enqueue(ids, system_config(System.objects.get(pk=system_id)).batch_size)
    for job in GenerationJob.objects.filter(status=Status.ENCODING, heartbeat_at__lt=cutoff):
        if GenerationJob.objects.filter(pk=job.pk, heartbeat_at=job.heartbeat_at).update(heartbeat_at=timezone.now()):
            from generation.tasks import encode_videos

            enqueue_after_commit(lambda pk=job.pk: encode_videos.delay([pk]))
    return sum(len(ids) for ids in requeued.values())


def jobs_resend_lost(*, now: datetime | None = None) -> int:
    """Send again the jobs queued longer than JUICE_LOST_SECONDS that no worker started, once nothing
    waits in the gpu queue: their messages were lost (a broker restart, a send while it was down).
    Returns how many were sent. Safe to repeat: a job is claimed by compare-and-swap, so a job whose
    message turns up after all still runs once."""
    if queue_length("gpu") != 0:  # messages still wait (or the broker cannot be asked): not lost yet
        return 0
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.JUICE_LOST_SECONDS)
    waiting = Q(queued_at__lt=cutoff) | Q(queued_at=None, created_at__lt=cutoff)
    lost: dict[int, list[int]] = {}
    for job_id, system_id in GenerationJob.objects.filter(waiting, status=Status.QUEUED).values_list("pk", "system_id"):
        lost.setdefault(system_id, []).append(job_id)
    for system_id, ids in lost.items():
        with transaction.atomic():
            _enqueue(ids, system_config(System.objects.get(pk=system_id)).batch_size)
    return sum(len(ids) for ids in lost.values())


# -- the GPU worker's part -------------------------------------------------------------------------


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
    """While the pipeline runs, a thread writes the claimed jobs' steps when they changed (every
    JUICE_PROGRESS_SECONDS) and touches their heartbeat (every JUICE_HEARTBEAT_SECONDS: steps can be long).
    `steps` is the record the pipeline's calls report to."""

    def __init__(self, job_ids: list[int], worker: str) -> None:
        self.job_ids, self.worker = job_ids, worker
        self.steps = _StepRecord(job_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _running(self, job_ids: list[int]):
        """Compare-and-swap: only jobs still running on this worker (not cancelled, not re-queued)."""
        return GenerationJob.objects.filter(pk__in=job_ids, status=Status.RUNNING, worker=self.worker)

    def _write_steps(self) -> None:
        for (phase, step, total), job_ids in self.steps.changes().items():
            self._running(job_ids).update(step_phase=phase, step=step, step_count=total)

    def _run(self) -> None:
        try:
            beat = time.monotonic()
            while not self._stop.wait(settings.JUICE_PROGRESS_SECONDS):
                self._write_steps()
                if time.monotonic() - beat >= settings.JUICE_HEARTBEAT_SECONDS:
                    self._running(self.job_ids).update(heartbeat_at=timezone.now())
                    beat = time.monotonic()
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
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
            _enqueue(ids, system_config(System.objects.get(pk=system_id)).batch_size, countdown=settings.JUICE_RETRY_DELAY_SECONDS)


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
