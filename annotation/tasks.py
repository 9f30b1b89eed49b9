"""Periodic annotation work, on the media queue."""

from celery import shared_task

from annotation.assignment import leases_expire as leases_expire_service
from annotation.attention import attention_items_ensure
from annotation.models import Study


@shared_task(name="annotation.tasks.leases_expire")
def leases_expire() -> int:
    """Return every expired lease's item to the pool; idempotent, so beat may run it as often as it likes."""
    return leases_expire_service()


@shared_task(name="annotation.tasks.attention_items_make")
def attention_items_make(study_id: int) -> int:
    """Build the attention items a study asked for (ffmpeg); a re-delivered task adds none twice."""
    return len(attention_items_ensure(study=Study.objects.get(pk=study_id)))
