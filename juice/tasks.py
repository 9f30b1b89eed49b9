"""The Celery tasks of juice: background work (juice/background.py), found here by the worker's autodiscovery."""

from juice.background import background_resend, work_run

__all__ = ["background_resend", "work_run"]
