"""Recording a rater's answers for one assignment, exactly once.

The browser speaks in screen terms (left/right); votes are stored in system terms (a/b/tie),
translated through the placement stored on the assignment.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import QUALITY, Assignment, Item, Rater, Study, Vote

# A watch time above a day is a broken client, not a slow rater.
MAX_WATCH_MS = 24 * 3600 * 1000


class VoteError(Exception):
    """A refused vote; `status` is the HTTP status the annotator API answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VoteInvalid(VoteError):
    status = 400


class VoteForbidden(VoteError):
    status = 403


class VoteConflict(VoteError):
    status = 409


def _answers(study: Study, payload: object) -> tuple[dict[str, tuple[str, list[str]]], int]:
    """Validate the payload against the study's questions; returns {question: (choice, reasons)}, watch_ms."""
    if not isinstance(payload, dict):
        raise VoteInvalid("the body must be a JSON object")
    unknown = sorted(set(payload) - set(study.questions) - {"watch_ms"})
    if unknown:
        raise VoteInvalid(f"unknown question: {', '.join(unknown)}")
    choices = ("left", "right", "tie") if study.allow_tie else ("left", "right")
    answers = {}
    for question in study.questions:
        answer = payload.get(question)
        if not isinstance(answer, dict):
            raise VoteInvalid(f"question {question!r} is missing")
        choice = answer.get("choice")
        if choice not in choices:
            raise VoteInvalid(f"{question}: choice must be one of {', '.join(choices)}")
        reasons = answer.get("reasons")
        if not isinstance(reasons, list) or not reasons:
            raise VoteInvalid(f"{question}: tick at least one reason")
        allowed = [r["key"] for r in study.reasons.get(question, [])]
        bad = [r for r in reasons if r not in allowed]
        if bad:
            raise VoteInvalid(f"{question}: unknown reason {bad[0]!r}")
        answers[question] = (choice, list(dict.fromkeys(reasons)))
    watch_ms = payload.get("watch_ms", 0)
    if not isinstance(watch_ms, int) or isinstance(watch_ms, bool) or not 0 <= watch_ms <= MAX_WATCH_MS:
        raise VoteInvalid(f"watch_ms must be a whole number of milliseconds between 0 and {MAX_WATCH_MS}")
    return answers, watch_ms


def _attention_question(study: Study) -> str:
    # A frozen or noise video loses on quality for sure; faithfulness only when quality is not asked.
    return QUALITY if QUALITY in study.questions else study.questions[0]


def vote_submit(*, rater: Rater, token: str, payload: object) -> list[Vote]:
    """Store the rater's answers for assignment `token`; raises VoteError (400/403/409) with a message.

    `rater.study` is taken as loaded by the caller: a study closed while a vote is in flight may
    still take that vote.
    """
    study = rater.study
    assignment = Assignment.objects.select_related("item").filter(token=token, rater=rater).first()
    if assignment is None:
        raise VoteForbidden("this assignment is not yours")
    answers, watch_ms = _answers(study, payload)
    if study.status == Study.Status.CLOSED:
        raise VoteConflict("the study is closed")
    if assignment.status == Assignment.Status.VOTED:
        raise VoteConflict("this assignment was already voted")
    item = assignment.item
    other = Assignment.Left.B if assignment.left == Assignment.Left.A else Assignment.Left.A
    side = {"left": assignment.left, "right": other, "tie": Vote.Choice.TIE}
    try:
        with transaction.atomic():
            # Compare-and-swap on the status read above: of two submissions racing on one assignment
            # (a double click, two tabs) or a vote racing the lease sweep, exactly one moves it on.
            moved = Assignment.objects.filter(pk=assignment.pk, status=assignment.status).update(
                status=Assignment.Status.VOTED, voted_at=timezone.now()
            )
            if not moved:
                raise _Moved
            counted = Item.objects.filter(pk=item.pk)
            if assignment.status == Assignment.Status.EXPIRED:
                # Its claim went back to the pool; a late vote counts only if the item still has room.
                counted = counted.filter(claimed__lt=F("raters_needed")).update(claimed=F("claimed") + 1, votes_done=F("votes_done") + 1)
                if not counted:
                    raise VoteConflict("the lease expired and the item went to another rater")
            else:
                counted.update(votes_done=F("votes_done") + 1)
            votes = Vote.objects.bulk_create(
                Vote(assignment=assignment, question=q, choice=side[choice], reasons=reasons, watch_ms=watch_ms)
                for q, (choice, reasons) in answers.items()
            )
            if item.is_attention and item.expected:
                passed = side[answers[_attention_question(study)][0]] == item.expected
                field = "attention_passed" if passed else "attention_failed"
                Rater.objects.filter(pk=rater.pk).update(**{field: F(field) + 1})
    except _Moved:
        # Another request voted on it first, or the sweep expired its lease meanwhile: decide again
        # on the status now stored (a status only moves forward, so this happens at most twice).
        return vote_submit(rater=rater, token=token, payload=payload)
    except IntegrityError:
        # Only a concurrent duplicate submission can trip the unique (assignment, question) guard.
        raise VoteConflict("this assignment was already voted") from None
    return votes


class _Moved(Exception):
    """The assignment's status changed between reading it and voting on it."""
