"""The annotator's JSON API (CONTRACT.md): the next assignment, and the vote on it.

Annotators are identified by the rater id this browser's signed cookie holds for the study; they reach
their own assignments only, and nothing here names a system, a prompt id or a file.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from annotation.assignment import next_for, rater_welcome
from annotation.auth import api_error
from annotation.models import Assignment, Item, Rater, Study
from annotation.ratelimit import rate_limit_exceeded
from annotation.raters import rater_ids
from annotation.voting import VoteError, rater_for_vote, vote_quick, vote_submit

logger = logging.getLogger(__name__)


def assignment_payload(assignment: Assignment, rater: Rater) -> dict:
    """What the rating page needs for one assignment, in screen terms (left/right) only."""
    study = rater.study
    item = assignment.item
    slug = study.slug
    left, right = (item.token_a, item.token_b) if assignment.left == Assignment.Left.A else (item.token_b, item.token_a)
    return {
        "assignment": assignment.token,
        "prompt": item.prompt.text,
        "image": reverse("rating-image", args=[slug, assignment.token]) if item.prompt.image else None,
        "videos": {"left": reverse("study-video", args=[slug, left]), "right": reverse("study-video", args=[slug, right])},
        "questions": [{"key": q, "reasons": study.reasons.get(q, [])} for q in study.questions],
        "progress": rater_progress(rater),
    }


def rater_progress(rater: Rater) -> dict:
    done = rater.votes_done
    # A rater may rate every ready item of the study once, so that is their most. It changes only
    # when items are added, so a short cache spares a count on every request.
    key = f"ready-items:{rater.study_id}"
    total = cache.get(key)
    if total is None:
        total = Item.objects.filter(study_id=rater.study_id, status=Item.Status.READY).count()
        cache.set(key, total, timeout=10)
    return {"done": done, "total": total}


@never_cache
@require_GET
def annotate_next(request: HttpRequest, slug: str) -> JsonResponse:
    rater_id = rater_ids(request).get(slug)
    body = next_body(rater_id=rater_id, slug=slug) if rater_id is not None else None
    if body is None:
        return api_error(403, "join this study through its link first")
    return JsonResponse(body)


def next_body(*, rater_id: int, slug: str) -> dict | None:
    """What `next` answers rater `rater_id` of study `slug`: their live or newly claimed assignment,
    or why there is none. None when the study has no such rater."""
    rater, assignment = next_for(rater_id=rater_id, slug=slug)
    if rater is None:
        return None
    if assignment is not None:
        return assignment_payload(assignment, rater)
    study = rater.study
    progress = rater_progress(rater)
    if not rater_welcome(rater):
        body = {"assignment": None, "completion_code": None,
                "message": "Your invitation to this study has ended. Thank you for your work."}
    elif study.status == Study.Status.PAUSED:
        body = {"assignment": None, "completion_code": None, "message": "The study is paused. Please come back later."}
    elif progress["done"]:
        body = {"assignment": None, "completion_code": study.completion_code or None, "message": "Thank you: you have finished."}
    else:
        body = {"assignment": None, "completion_code": None, "message": "There is nothing left to rate in this study."}
    return {**body, "progress": progress}


MALFORMED = object()


@never_cache
@require_POST
def annotate_vote(request: HttpRequest, token: str) -> JsonResponse:
    # This browser holds one rater per study it joined; the assignment must be one of theirs.
    joined = rater_ids(request)
    try:
        payload = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = MALFORMED
    too_fast = None  # not counted yet
    if len(joined) == 1 and payload is not MALFORMED:
        # The common case, a browser rating one study, is stored in one statement when it can be.
        # Its vote is counted against the limit first; a refusal below still says 403 before 429.
        ((slug, rater_id),) = joined.items()
        too_fast = _votes_too_fast(rater_id)
        if not too_fast and vote_quick(slug=slug, rater_id=rater_id, token=token, payload=payload):
            return _voted(request, slug=slug, rater_id=rater_id)
    rater = rater_for_vote(token=token, rater_ids=set(joined.values()))
    if rater is None or joined.get(rater.study.slug) != rater.pk:
        return api_error(403, "this assignment is not yours")
    if too_fast is None:
        too_fast = _votes_too_fast(rater.pk)
    if too_fast:
        return _slow_down()
    if payload is MALFORMED:
        return api_error(400, "the body is not valid JSON")
    try:
        vote_submit(rater=rater, token=token, payload=payload)
    except VoteError as exc:
        return api_error(exc.status, exc.message)
    return _voted(request, slug=rater.study.slug, rater_id=rater.pk)


def _voted(request: HttpRequest, *, slug: str, rater_id: int) -> JsonResponse:
    """201 for a stored vote; with `?next=1`, the body also holds what `next` would now answer, which
    spares the rating page a second request per item."""
    body = {"ok": True}
    if request.GET.get("next") == "1":
        try:
            body["next"] = next_body(rater_id=rater_id, slug=slug)
        except DatabaseError:
            # The vote is stored: say so. Without `next`, the page asks for it with GET next.
            logger.exception("vote stored, but the next assignment could not be read")
            body["next"] = None
    return JsonResponse(body, status=201)


def _votes_too_fast(rater_id: int) -> bool:
    """Count one vote of this rater against the limit; True once over it."""
    return rate_limit_exceeded(scope="vote", key=str(rater_id), limit=settings.JUICE_RATE_VOTE_PER_MINUTE)


def _slow_down() -> JsonResponse:
    response = api_error(429, "too many votes; slow down")
    response["Retry-After"] = "60"
    return response
