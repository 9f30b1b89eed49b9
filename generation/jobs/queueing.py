"""Queueing generation jobs: one per prompt and sample of a prompt set for a system; retrying and cancelling them.

A job's life: QUEUED -> RUNNING (a GPU worker claimed it by compare-and-swap and makes the
frames) -> ENCODING (the frames wait on shared storage; a media worker encodes them to H.264 and
stores the Video) -> DONE. A failure records its error and goes back to QUEUED until MAX_ATTEMPTS,
then FAILED; cancelled jobs are CANCELLED. The worker's part is worker.py, the recovery of lost
workers and messages reconcile.py, what the generation page shows progress.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from generation.models import GenerationJob, PromptSet, System, Video
from generation.systems.services import SystemInputError, system_config
from juice.queue import enqueue_after_commit

MAX_ATTEMPTS = 3
Status = GenerationJob.Status


class JobError(ValueError):
    """Generation that cannot be queued as asked; the message says why."""


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


def jobs_enqueue(*, system_id: int, job_ids: list[int], countdown: int = 0) -> None:
    """Send these QUEUED jobs of one system to the gpu queue again (a retry, a lost worker or message), after commit."""
    _enqueue(job_ids, system_config(System.objects.get(pk=system_id)).batch_size, countdown)


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
