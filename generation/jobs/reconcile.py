"""Recovering from lost workers and lost messages (celery beat runs both every minute).

A RUNNING job whose worker died stops sending heartbeats and goes back in the queue; an ENCODING job
left that long is sent to the media queue again; a job whose message the broker lost waits QUEUED
with nothing in the gpu queue, and is sent again. Each is compare-and-swap or idempotent, so a worker
or message that turns up after all finds the job moved on, or its work done.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from generation.jobs.queueing import MAX_ATTEMPTS, Status, jobs_enqueue
from generation.models import GenerationJob
from juice.queue import enqueue_after_commit, queue_drained


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
            jobs_enqueue(system_id=system_id, job_ids=ids)
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
    if not queue_drained("gpu"):  # messages still wait (or the broker cannot be asked): not lost yet
        return 0
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.JUICE_LOST_SECONDS)
    waiting = Q(queued_at__lt=cutoff) | Q(queued_at=None, created_at__lt=cutoff)
    lost: dict[int, list[int]] = {}
    for job_id, system_id in GenerationJob.objects.filter(waiting, status=Status.QUEUED).values_list("pk", "system_id"):
        lost.setdefault(system_id, []).append(job_id)
    for system_id, ids in lost.items():
        with transaction.atomic():
            jobs_enqueue(system_id=system_id, job_ids=ids)
    return sum(len(ids) for ids in lost.values())
