"""Celery tasks of annotation, on the media queue. Thin: ids in, a service call, nothing else.

The names are what queued messages carry: keep them (`match_study` kept the name it had when it
lived in generation).
"""

from celery import shared_task

from annotation.models import Study
from annotation.rating.dynamic import study_settle  # background work (juice/background.py): the worker must know it
from annotation.rating.lease import leases_expire as leases_expire_service
from annotation.reports.cache import report_compute  # background work, as study_settle
from annotation.studies.attention import attention_items_ensure
from annotation.studies.figures import rater_figures_compute  # background work, as report_compute
from annotation.studies.matching import items_refresh, studies_refresh, study_match
from juice.background import background_task


@shared_task(name="generation.tasks.match_study", acks_late=True)
def match_study(study_id: int) -> int:
    """Queue the encodes of a study's pending items; safe to re-run. Returns how many were queued."""
    return study_match(study_id=study_id)


@background_task
def match_study_background(study_id: int) -> None:
    """match_study as background work (juice/background.py): with no broker, a thread of the web server
    runs it after the response."""
    study_match(study_id=study_id)


@shared_task(name="annotation.tasks.items_refresh_after", acks_late=True)
def items_refresh_after(matched_id: int) -> None:
    """Runs after an encode: its items become ready or failed, and their studies open when ready."""
    items_refresh(matched_id=matched_id)


@shared_task(name="annotation.tasks.studies_refresh")
def studies_refresh_all() -> int:
    """Open the preparing studies whose items are all matched (celery beat, every minute)."""
    return studies_refresh()


@shared_task(name="annotation.tasks.leases_expire")
def leases_expire() -> int:
    """Return every expired lease's item to the pool; idempotent, so beat may run it as often as it likes."""
    return leases_expire_service()


@shared_task(name="annotation.tasks.attention_items_make")
def attention_items_make(study_id: int) -> int:
    """Build the attention items a study asked for (ffmpeg); a re-delivered task adds none twice."""
    return len(attention_items_ensure(study=Study.objects.get(pk=study_id)))


__all__ = ["attention_items_make", "items_refresh_after", "leases_expire", "match_study", "match_study_background",
           "rater_figures_compute", "report_compute", "studies_refresh_all", "study_settle"]
