"""A rater's report of a problem with an item (a video that does not play, two different prompts),
instead of a vote: the item goes back to the pool at once, the rater moves on, and the researcher
sees the report on the study page."""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction

from annotation.models import Assignment, Report, Study
from annotation.options import option
from annotation.rating.assignment import Offer, assignment_next
from annotation.rating.lease import lease_release
from annotation.rating.schemas import ProblemSpec
from annotation.rating.voting import Target, VoteConflict, assignment_check_state, assignment_held
from juice.ratelimit import rate_limit_exceeded
from juice.refusals import RateLimited


def assignment_for_report(*, rater_ids: Collection[int], token: str) -> Target:
    """The assignment `token` if one of `rater_ids` holds it (NotYours otherwise) and its rater has not
    reported more than the study's `reports_per_minute` this minute (RateLimited otherwise): the checks
    before a report's body is read, as for a vote."""
    target = assignment_held(rater_ids=rater_ids, token=token)
    limit = option("reports_per_minute").value(Study.objects.only("options").get(pk=target.study.id))
    if rate_limit_exceeded(scope="report", key=str(target.rater_id), limit=limit):
        raise RateLimited(f"more than {limit} problem reports a minute; please rate this pair, or wait a minute")
    return target


def report_submit(*, target: Target, problem: ProblemSpec) -> Offer | None:
    """Store `problem` for the assignment `target` (from `assignment_for_report`) and give its item back to
    the pool; returns what `next` now answers the rater. Raises VoteConflict when it was voted or reported.

    A lease that ran out meanwhile has given its claim back already: the report is stored all the same.
    """
    assignment_check_state(target)
    with transaction.atomic():
        if not lease_release(assignment_id=target.id, status=Assignment.Status.REPORTED):
            reported = Assignment.objects.filter(pk=target.id, status=Assignment.Status.EXPIRED).update(
                status=Assignment.Status.REPORTED
            )
            if not reported:
                raise VoteConflict("this assignment was already voted or reported")
        Report.objects.create(assignment_id=target.id, problem=problem.problem, text=problem.text.strip())
    return assignment_next(rater_id=target.rater_id, slug=target.study.slug)
