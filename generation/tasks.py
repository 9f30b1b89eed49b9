"""Celery tasks. Thin: ids in, a service call, nothing else.

Routing (settings.CELERY_TASK_ROUTES): `generate_*` go to the `gpu` queue, every other task here
to `media`, so GPU workers never wait on ffmpeg.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from generation.jobs import job_encode, jobs_requeue_stale, jobs_run

# -- generation ------------------------------------------------------------------------------------


@shared_task
def generate_videos(job_ids: list[int]) -> int:
    """Generate the frames of these queued jobs (one system, one batch); re-delivery finds them claimed."""
    return jobs_run(job_ids=job_ids)


@shared_task
def encode_video(job_id: int) -> None:
    """Encode a generated job's frames to H.264 and store its Video."""
    job_encode(job_id=job_id)


@shared_task
def requeue_stale_jobs() -> int:
    """Put back the jobs of dead workers (celery beat runs this every minute)."""
    return jobs_requeue_stale()


# -- matching (media queue): encode both sides of every item, open the study when all are ready ----


@shared_task(acks_late=True)
def match_study(study_id: int) -> int:
    """Fan out one encode per MatchedVideo still to do; safe to re-run. Returns how many were queued."""
    from generation.matching import items_refresh, study_match

    todo = study_match(study_id=study_id)
    for matched_id in todo:
        transaction.on_commit(lambda m=matched_id: match_video.delay(m))
    # Encodes reused from earlier studies are already done: their items are ready now.
    items_refresh(study_id=study_id)
    return len(todo)


@shared_task(acks_late=True)
def match_video(matched_id: int) -> bool:
    """Encode one MatchedVideo (claimed by compare-and-swap), then update its items and studies."""
    from generation.matching import matched_video_encode

    return matched_video_encode(matched_id=matched_id)
