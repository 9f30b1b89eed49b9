"""Reports are computed in the background and served from files (annotation/reports/cache.py): tests that
read a report have the pending computation run here, at once, through the code the background runs."""

from __future__ import annotations

from annotation.models import Study
from annotation.reports.cache import report_compute


def report_computed(study: Study) -> None:
    """Compute and store `study`'s report now, as the background task does after a vote."""
    report_compute(study.pk)
