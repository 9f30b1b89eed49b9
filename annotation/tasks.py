"""Periodic annotation work, on the media queue."""

from celery import shared_task

from annotation.assignment import leases_expire as leases_expire_service


@shared_task(name="annotation.tasks.leases_expire")
def leases_expire() -> int:
    """Return every expired lease's item to the pool; idempotent, so beat may run it as often as it likes."""
    return leases_expire_service()
