"""A rater's report of a problem with an item (a video that does not play, two different prompts),
instead of a vote: the item goes back to the pool at once, the rater moves on, and the researcher
sees the report on the study page."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from annotation.models import Assignment, Report
from annotation.rating.assignment import Offer, assignment_next, lease_release
from annotation.rating.voting import VoteConflict, VoteInvalid, assignment_check_state, assignment_target
from juice.http import InputError, input_parse


class ProblemSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    problem: Literal["video_does_not_play", "different_prompts", "other"]
    text: StrictStr = Field("", max_length=2000)


def report_submit(*, rater_ids: Collection[int], token: str, body: bytes) -> Offer | None:
    """Store the problem in `body` (JSON) for assignment `token`, held by one of `rater_ids`, and give
    its item back to the pool; returns what `next` now answers the rater. Raises VoteError: 403 when
    the assignment is not theirs, 400 for an unknown problem, 409 when it was voted or reported.

    A lease that ran out meanwhile has given its claim back already: the report is stored all the same.
    """
    target = assignment_target(token, rater_ids)
    try:
        spec = input_parse(ProblemSpec, body)
    except InputError as exc:
        raise VoteInvalid(str(exc)) from None
    assignment_check_state(target)
    with transaction.atomic():
        if not lease_release(assignment_id=target.id, status=Assignment.Status.REPORTED):
            reported = Assignment.objects.filter(pk=target.id, status=Assignment.Status.EXPIRED).update(
                status=Assignment.Status.REPORTED
            )
            if not reported:
                raise VoteConflict("this assignment was already voted or reported")
        Report.objects.create(assignment_id=target.id, problem=spec.problem, text=spec.text.strip())
    return assignment_next(rater_id=target.rater_id, slug=target.study.slug)
