"""Celery tasks of the generation app. Names starting with `generate_` run on the `gpu` queue,
every other task here on the `media` queue (see CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

# --- Matching (media queue): encode both sides of every item, open the study when all are ready.


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
