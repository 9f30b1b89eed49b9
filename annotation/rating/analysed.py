"""Which votes the analysis counts: the votes CSV carries them (annotation/reports/exports.py) and dynamic
evaluation settles pairs on them (annotation/rating/dynamic.py).

Left out: attention items, dropped items, screened-out raters and raters whose attention pass rate
(counted as they vote, annotation/rating/voting.py) is below the study's threshold.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from annotation.models import Item, Rater, Study, Vote
from juice.background import background_run

# The report's computation (annotation/reports/cache.py), by name: reports is a layer above this one.
REPORT_TASK = "annotation.reports.cache.report_compute"


def attention_pass_rate(rater: Rater) -> float | None:
    seen = rater.attention_passed + rater.attention_failed
    return rater.attention_passed / seen if seen else None


def rater_excluded(*, rater: Rater, study: Study) -> bool:
    """True when the rater's attention pass rate is below the study's threshold (no attention items seen: kept)."""
    rate = attention_pass_rate(rater)
    return study.attention_threshold is not None and rate is not None and rate < study.attention_threshold


def raters_excluded(*, study: Study) -> list[Rater]:
    """The raters to leave out of the analysis."""
    return [r for r in study.raters.all() if rater_excluded(rater=r, study=study)]


def analysed_votes(*, study: Study, include_excluded: bool = False) -> QuerySet[Vote]:
    """The votes the analysis counts (raters below the attention threshold too, with `include_excluded`)."""
    excluded = set() if include_excluded else {r.pk for r in raters_excluded(study=study)}
    return (
        Vote.objects.filter(assignment__item__study=study, assignment__item__is_attention=False)
        .exclude(assignment__item__status=Item.Status.DROPPED)
        .exclude(assignment__rater__screened_out=True)
        .exclude(assignment__rater__in=excluded)
    )


def report_key(study_id: int) -> str:
    """The background work key of a study's report: its computations are coalesced under it."""
    return f"report:{study_id}"


def report_outdated(*, study_id: int) -> None:
    """Votes, exclusions or settings of the study changed: its report is computed again shortly, after the
    caller's transaction commits (JUICE_REPORT_DEBOUNCE_SECONDS, so that the changes of the next moments
    join the same computation)."""
    background_run(REPORT_TASK, study_id, key=report_key(study_id), delay=settings.JUICE_REPORT_DEBOUNCE_SECONDS)
