"""The study page's per-rater figures that need every vote (median watch time, left share, items handed
and reported), computed in the background and stored one row per rater (RaterFigures), so that a page
view reads the rows it shows and never scans the votes. The counters a vote moves (votes, attention)
are read from the rater's row, where the vote's transaction keeps them.

A page that shows a rater whose figures are missing or count fewer votes than the rater has asks for a
computation (`rater_figures_refresh`), coalesced per study (juice/background.py): at most one runs and
one waits, however many tabs refresh.
"""

from __future__ import annotations

from django.utils import timezone

from annotation.models import RaterFigures, Study
from annotation.studies.selectors import NO_FIGURES, rater_vote_figures
from juice.background import background_run, background_task
from juice.snapshot import read_snapshot

STORED = ("votes", "median_watch_ms", "left_share", "handed", "reported")


def rater_figures_store(*, study: Study) -> int:
    """Compute every rater's figures of `study` now, from one snapshot, and store them; returns how many
    raters. What the background runs, and what tests call to have the figures at once."""
    with read_snapshot():
        raters = list(study.raters.values_list("pk", flat=True))
        counted = rater_vote_figures(study=study)
    now = timezone.now()
    rows = [RaterFigures(rater_id=pk, computed_at=now, **{k: counted.get(pk, NO_FIGURES)[k] for k in STORED}) for pk in raters]
    RaterFigures.objects.bulk_create(rows, batch_size=1000, update_conflicts=True, unique_fields=["rater"],
                                     update_fields=[*STORED, "computed_at"])
    return len(rows)


@background_task
def rater_figures_compute(study_id: int) -> None:
    """The background task: compute and store the rater figures of study `study_id` (gone: nothing to do)."""
    study = Study.objects.filter(pk=study_id).first()
    if study is not None:
        rater_figures_store(study=study)


def rater_figures_refresh(*, study: Study) -> None:
    """Ask for the study's rater figures to be computed again in the background (coalesced per study)."""
    background_run(rater_figures_compute, study.pk, key=f"rater-figures:{study.pk}")
