"""Celery tasks of generation. Thin: ids in, a service call, nothing else.

Routing (settings.CELERY_TASK_ROUTES): `generate_*` go to the `gpu` queue, every other task here
to `media`, so GPU workers never wait on ffmpeg. The names are what queued messages carry: keep them.
"""

from __future__ import annotations

from celery import shared_task

from generation.jobs.reconcile import jobs_requeue_stale, jobs_resend_lost
from generation.jobs.worker import jobs_encode, jobs_run
from generation.matching.encodes import matched_video_encode


@shared_task
def generate_videos(job_ids: list[int]) -> int:
    """Generate the frames of these queued jobs (one system, one batch); re-delivery finds them claimed."""
    return jobs_run(job_ids=job_ids)


@shared_task
def encode_videos(job_ids: list[int]) -> int:
    """Encode the frames of these generated jobs (a batch) to H.264 and store their Videos."""
    return len(jobs_encode(job_ids=job_ids))


@shared_task
def encode_video(job_id: int) -> None:
    """One job's encode, as messages queued by earlier versions carry it."""
    jobs_encode(job_ids=[job_id])


@shared_task
def requeue_stale_jobs() -> int:
    """Put back the jobs of dead workers, and send again those whose message was lost (celery beat
    runs this every minute)."""
    return jobs_requeue_stale() + jobs_resend_lost()


@shared_task(acks_late=True)
def match_video(matched_id: int) -> bool:
    """Encode one MatchedVideo (claimed by compare-and-swap); whoever queued it links what follows."""
    return matched_video_encode(matched_id=matched_id)
