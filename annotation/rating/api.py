"""The annotator's JSON API (CONTRACT.md): the next assignment, the vote on it, or a problem reported instead.

Annotators are identified by the rater id this browser's signed cookie holds for the study; they reach
their own assignments only, and nothing here names a system, a prompt id or a file. Refusals are the
services' (and the views' own), answered by juice.http.refusals_answered; answers are built through
their output schemas (annotation/rating/schemas.py), which the OpenAPI document describes.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.models import Study
from annotation.raters.cookies import RATER, rater_from_cookie, rater_ids
from annotation.raters.services import rater_consent
from annotation.rating.assignment import Offer, assignment_next
from annotation.rating.problems import assignment_for_report, report_submit
from annotation.rating.qualification import qualification_answer, qualification_next
from annotation.rating.schemas import (
    AssignmentOut,
    Ballot,
    ConsentOut,
    FeedbackOut,
    NextOut,
    NoAssignmentOut,
    ProblemOut,
    ProblemSpec,
    QualificationBody,
    QualificationOut,
    VoteOut,
)
from annotation.rating.sides import on_screen
from annotation.rating.voting import assignment_for_vote, vote_submit
from juice.http import api_answer, input_parse, refusals_answered
from juice.openapi import api_operation
from juice.refusals import Forbidden

NOT_JOINED = "join this study through its link first"
NOT_THEIRS = "this assignment is not yours"
VOTED = "the assignment was already voted or reported, or its lease expired and it went to someone else"


@api_operation("GET", summary="The rater's next assignment (the same one until it is voted), or none and why",
               answers={200: NextOut}, errors={403: NOT_JOINED}, auth=(RATER,))
@never_cache
@require_GET
@refusals_answered
def annotate_next(request: HttpRequest, slug: str) -> JsonResponse:
    rater_id = rater_ids(request).get(slug)
    offer = assignment_next(rater_id=rater_id, slug=slug) if rater_id is not None else None
    if offer is None:
        raise Forbidden(NOT_JOINED)
    return api_answer(offer_out(offer))


@api_operation("POST", summary="Vote on an assignment (`?next=1`: the answer holds the next assignment too)", body=Ballot,
               answers={201: VoteOut}, auth=(RATER,), query={"next": "`1`: the answer holds what `next` now answers too"},
               errors={400: "a question missing, an invalid choice, a missing or unknown reason, or a watch time below the minimum",
                       403: NOT_THEIRS, 409: VOTED, 429: "too many votes a minute (Retry-After says when to try again)"})
@never_cache
@require_POST
@refusals_answered
def annotate_vote(request: HttpRequest, token: str) -> JsonResponse:
    """A vote; with `?next=1` the answer also holds what `next` would answer right after it. The body is
    read only once the assignment is known to be this rater's and they are not voting too fast."""
    target = assignment_for_vote(rater_ids=set(rater_ids(request).values()), token=token)
    ballot = input_parse(Ballot, request.body, context={"questions": target.study.questions})
    then_next = request.GET.get("next") == "1"
    voted = vote_submit(target=target, ballot=ballot, then_next=then_next)
    if not then_next:
        return api_answer(VoteOut(ok=True), status=201)
    # None when the next assignment could not be read: the page then asks for it with GET next.
    return api_answer(VoteOut(ok=True, next=offer_out(voted.next) if voted.next is not None else None), status=201)


@api_operation("POST", summary="Report a problem with the item instead of voting: it is released at once", body=ProblemSpec,
               answers={201: ProblemOut}, auth=(RATER,),
               errors={400: "an unknown problem", 403: NOT_THEIRS, 409: VOTED, 429: "more problem reports a minute than the study allows"})
@never_cache
@require_POST
@refusals_answered
def annotate_report(request: HttpRequest, token: str) -> JsonResponse:
    """A problem with the item instead of a vote; the answer holds what `next` now answers (`next`)."""
    target = assignment_for_report(rater_ids=set(rater_ids(request).values()), token=token)
    offer = report_submit(target=target, problem=input_parse(ProblemSpec, request.body))
    return api_answer(ProblemOut(ok=True, next=offer_out(offer) if offer is not None else None), status=201)


@api_operation("POST", summary="Agree to the study's consent text, having read its instructions", answers={201: ConsentOut},
               errors={403: NOT_JOINED}, auth=(RATER,))
@never_cache
@require_POST
@refusals_answered
def annotate_consent(request: HttpRequest, slug: str) -> JsonResponse:
    """The rater read the instructions and agreed to the consent text: recorded, then the items come."""
    rater = rater_from_cookie(request, slug)
    if rater is None:
        raise Forbidden(NOT_JOINED)
    rater = rater_consent(rater=rater)
    return api_answer(ConsentOut(ok=True, consented_at=rater.consented_at.isoformat()), status=201)


@api_operation("GET", summary="The next qualification pair, or none with whether the rater is admitted",
               answers={200: QualificationOut}, errors={403: NOT_JOINED, 409: "the qualification pair is not ready"}, auth=(RATER,))
@api_operation("POST", summary="Answer a qualification pair: whether it was right, and the decision so far", body=QualificationBody,
               answers={201: FeedbackOut}, auth=(RATER,),
               errors={400: "a bad body: no index, or an answer that is not {\"choice\": \"left\"|\"right\"|\"tie\"}", 403: NOT_JOINED,
                       409: "not the pair to answer now"})
@never_cache
@require_http_methods(["GET", "POST"])
@refusals_answered
def annotate_qualification(request: HttpRequest, slug: str) -> JsonResponse:
    """GET: the next qualification pair (or none, with whether the rater is admitted); POST: an answer
    to it, answered with the feedback (was it right, what was expected) and the decision so far."""
    rater = rater_from_cookie(request, slug)
    if rater is None:
        raise Forbidden(NOT_JOINED)
    if request.method == "GET":
        return api_answer(qualification_out(rater, qualification_next(rater=rater)))
    body = input_parse(QualificationBody, request.body)
    feedback = qualification_answer(rater=rater, index=body.index, choices=body.choices)
    return api_answer(FeedbackOut(correct=feedback.correct, expected=feedback.expected, admitted=feedback.admitted,
                                  screened_out=feedback.screened_out), status=201)


def qualification_out(rater, shown) -> QualificationOut:
    """A qualification pair as the rating page shows it: screen terms only, like an assignment."""
    study = rater.study
    answer = {"admitted": rater.admitted, "screened_out": rater.screened_out, "pair": None}
    if rater.screened_out:
        answer["message"] = ("Thank you for your time. Your answers to the practice pairs did not match ours, "
                             "so this study cannot use your ratings.")
    if shown is not None:
        answer["pair"] = {
            "index": shown.index, "total": shown.total, "prompt": shown.item.prompt.text, "image": None,
            "videos": _videos(study.slug, shown.left, shown.item.token_a, shown.item.token_b),
            "questions": [{"key": q, "reasons": study.reasons.get(q, [])} for q in study.questions],
        }
    return QualificationOut(**answer)


def offer_out(offer: Offer) -> AssignmentOut | NoAssignmentOut:
    """What the rating page needs, in screen terms (left/right) only: the assignment, or why there is none."""
    progress = {"done": offer.votes_done, "total": offer.ready_items}
    study, shown = offer.study, offer.assignment
    if shown is not None:
        return AssignmentOut(
            assignment=shown.token,
            prompt=shown.prompt,
            image=reverse("rating-image", args=[study.slug, shown.token]) if shown.image else None,
            videos=_videos(study.slug, shown.left, shown.token_a, shown.token_b),
            questions=[{"key": q, "reasons": study.reasons.get(q, [])} for q in study.questions],
            progress=progress,
        )
    code, message = None, "There is nothing left to rate in this study."
    if not offer.consented:
        message = "Please read the study's instructions and agree to its consent text first; they are on the study's first page."
    elif not offer.admitted:
        message = "This study admits raters who pass its short qualification first; it is on the study's page."
    elif not offer.welcome:
        message = "Your invitation to this study has ended. Thank you for your work."
    elif study.status == Study.Status.PAUSED:
        message = "The study is paused. Please come back later."
    elif offer.votes_done:
        code, message = study.completion_code or None, "Thank you: you have finished."
    return NoAssignmentOut(assignment=None, completion_code=code, message=message, progress=progress)


def _videos(slug: str, left: str, token_a: str, token_b: str) -> dict[str, str]:
    """The URLs of the videos shown on the left and on the right."""
    on_left, on_right = on_screen(left, token_a, token_b)
    return {"left": reverse("study-video", args=[slug, on_left]), "right": reverse("study-video", args=[slug, on_right])}
