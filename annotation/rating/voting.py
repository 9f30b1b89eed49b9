"""Recording a rater's answers for one assignment, exactly once.

The browser speaks in screen terms (left/right); votes are stored in system terms (a/b/tie),
translated through the placement stored on the assignment.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from analysis import sequential
from annotation.models import QUALITY, Assignment, Study, Vote
from annotation.rating import sql
from annotation.rating.assignment import Offer, Order, StudyRules, assignment_claim, assignment_next, offer, sweep_if_due
from annotation.rating.dynamic import study_settle_request
from juice.http import InputError, input_parse
from juice.ratelimit import rate_limit_exceeded

logger = logging.getLogger(__name__)

# A watch time above a day is a broken client, not a slow rater.
MAX_WATCH_MS = 24 * 3600 * 1000


class VoteError(Exception):
    """A refused vote; `status` is the HTTP status the annotator API answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VoteInvalid(VoteError):
    pass


class VoteForbidden(VoteError):
    status = 403


class VoteConflict(VoteError):
    status = 409


class VoteTooFast(VoteError):
    status = 429


class Answer(BaseModel):
    # Keys beyond these are ignored, as they always were: a client may send more than the contract's.
    model_config = ConfigDict(extra="ignore")

    choice: StrictStr
    reasons: list[StrictStr]


class Ballot(BaseModel):
    """A vote's body: one answer per question of the study (checked against it by `_ballot`), and
    how long the videos were watched."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Answer]

    watch_ms: StrictInt = Field(0, ge=0, le=MAX_WATCH_MS)


@dataclass(frozen=True)
class Voted:
    """A stored vote: the rater's votes so far and, when asked for, what `next` now answers."""

    votes_done: int
    next: Offer | None = None


@dataclass(frozen=True)
class Target:
    """The assignment a vote is for, as ASSIGNMENT_SQL reads it."""

    id: int
    rater_id: int
    item_id: int
    left: str
    status: str
    attention_expected: str
    welcome: bool
    order: Order
    study: StudyRules


def vote_submit(*, rater_ids: Collection[int], token: str, body: bytes, then_next: bool = False) -> Voted:
    """Store the answers in `body` (JSON) for assignment `token`, held by one of `rater_ids` (the raters
    this browser joined as); raises VoteError (400/403/409/429) with a message. With `then_next`, the
    answer also holds what `next` would now answer, which spares the rating page a second request.

    The checks go: whose assignment (403), how fast (429), the body's JSON (400), the assignment's state
    (409), the answers against the study (400); so a client retrying a vote whose answer it lost is
    told the vote is in, not that its retry is malformed.
    """
    target = assignment_target(token, rater_ids)
    if rate_limit_exceeded(scope="vote", key=str(target.rater_id), limit=settings.JUICE_RATE_VOTE_PER_MINUTE):
        raise VoteTooFast("too many votes; slow down")
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VoteInvalid("the body is not valid JSON") from None
    while True:
        assignment_check_state(target)
        voted = _vote_and_claim(target, _ballot(target.study, payload), then_next)
        if voted is not None:
            return voted
        # Another request voted on it first, or the sweep expired its lease meanwhile: decide again on
        # the status now stored (it only moves forward: active, then expired, reported or voted).
        target = assignment_target(token, rater_ids)


def _vote_and_claim(target: Target, checked: _Checked, then_next: bool) -> Voted | None:
    """The vote and, with `then_next`, the rater's next claim, in one transaction; None when the
    assignment's status moved since it was read (nothing is written then)."""
    study, now = target.study, timezone.now()
    with transaction.atomic():
        try:
            votes_done = _record(target, checked, now)
        except IntegrityError:
            # Only a concurrent duplicate submission can trip the unique (assignment, question) guard.
            raise VoteConflict("this assignment was already voted") from None
        if votes_done is None:
            return None
        eligible = then_next and study.status == Study.Status.OPEN and target.welcome
        shown = None
        if eligible:
            shown = assignment_claim(rater_id=target.rater_id, study=study, now=now, order=target.order, position=votes_done + 1)
    if not then_next:
        return Voted(votes_done)
    # Expired leases go back to the pool now and then (at most every few seconds per process); after
    # the vote, so that the sweep never turns this rater's own vote into a late one.
    sweep_if_due(study.slug, now)
    if shown is not None:
        return Voted(votes_done, offer(study, shown, votes_done, target.welcome))
    try:
        # Nothing claimed: assignment_next says why (or finds the item a second tab claimed).
        return Voted(votes_done, assignment_next(rater_id=target.rater_id, slug=study.slug))
    except DatabaseError:
        # The vote is stored: say so. Without `next`, the page asks for it with GET next.
        logger.exception("vote stored, but the next assignment could not be read")
        return Voted(votes_done)


def assignment_target(token: str, rater_ids: Collection[int]) -> Target:
    """The assignment `token` with what a vote or a report reads of it; VoteForbidden unless one of `rater_ids` holds it."""
    if not rater_ids:  # this browser joined no study: no assignment of its own to look up
        raise VoteForbidden("this assignment is not yours")
    rows, _ = sql.run(sql.ASSIGNMENT_SQL, {"token": token})
    if not rows or rows[0][1] not in rater_ids:
        raise VoteForbidden("this assignment is not yours")
    assignment_id, rater_id, item_id, left, status, is_attention, expected, welcome, order_a, order_b, *study = rows[0]
    return Target(assignment_id, rater_id, item_id, left, status, expected if is_attention else "", bool(welcome),
                   (order_a, order_b), StudyRules.from_row(study))


def assignment_check_state(target: Target) -> None:
    # A study closed while a vote is in flight may still take that vote; a vote sent after, not.
    if target.study.status == Study.Status.CLOSED:
        raise VoteConflict("the study is closed")
    if target.status == Assignment.Status.VOTED:
        raise VoteConflict("this assignment was already voted")
    if target.status == Assignment.Status.REPORTED:
        raise VoteConflict("a problem was reported with this item; it takes no vote")
    if target.status == Assignment.Status.PRACTICE:
        raise VoteConflict("this was a practice pair; it takes no vote")


@dataclass(frozen=True)
class _Checked:
    answers: dict[str, tuple[str, list[str]]]  # {question: (left|right|tie, reasons)}
    watch_ms: int


def _ballot(study: StudyRules, payload: object) -> _Checked:
    """The payload checked against the study's questions, reasons and tie policy."""
    if not isinstance(payload, dict):
        raise VoteInvalid("the body must be a JSON object")
    unknown = sorted(set(payload) - set(study.questions) - {"watch_ms"})
    if unknown:
        raise VoteInvalid(f"unknown question: {', '.join(unknown)}")
    try:
        given = input_parse(Ballot, payload)
    except InputError as exc:
        raise VoteInvalid(str(exc)) from None
    if given.watch_ms < study.min_watch_ms:
        raise VoteInvalid(f"watch_ms: the videos were watched for {given.watch_ms} ms; this study asks for at least "
                          f"{study.min_watch_ms} ms of watching before a vote")
    choices = ("left", "right", "tie") if study.allow_tie else ("left", "right")
    answers = {}
    for question in study.questions:
        answer = given.__pydantic_extra__.get(question)
        if answer is None:
            raise VoteInvalid(f"question {question!r} is missing")
        if answer.choice not in choices:
            raise VoteInvalid(f"{question}: choice must be one of {', '.join(choices)}")
        if not answer.reasons:
            raise VoteInvalid(f"{question}: tick at least one reason")
        allowed = {r["key"] for r in study.reasons.get(question, [])}
        bad = [r for r in answer.reasons if r not in allowed]
        if bad:
            raise VoteInvalid(f"{question}: unknown reason {bad[0]!r}")
        answers[question] = (answer.choice, list(dict.fromkeys(answer.reasons)))
    return _Checked(answers, given.watch_ms)


def attention_question(questions: list[str]) -> str:
    """The question an attention item is scored on: a frozen video loses on quality for sure;
    faithfulness only counts when quality is not asked."""
    return QUALITY if QUALITY in questions else questions[0]


def _record(target: Target, checked: _Checked, now: datetime) -> int | None:
    """In the caller's transaction: mark the assignment voted, count the vote on its item, store one
    vote per question and tally it on the rater; returns the rater's votes so far, or None when the
    assignment's status moved since it was read (nothing is written then)."""
    side = {"left": target.left, "right": "b" if target.left == "a" else "a", "tie": Vote.Choice.TIE.value}
    choices = {q: (side[choice], reasons) for q, (choice, reasons) in checked.answers.items()}
    passed = target.attention_expected and choices[attention_question(target.study.questions)][0] == target.attention_expected
    at = sql.db_value(None, now)
    _, moved = sql.run(sql.VOTED_SQL, {"now": at, "assignment": target.id, "status": target.status})
    if not moved:
        return None
    late = int(target.status == Assignment.Status.EXPIRED)
    _, counted = sql.run(sql.COUNTED_SQL, {"item": target.item_id, "late": late})
    if not counted:
        # Its claim went back to the pool, and the item has had all its raters since.
        raise VoteConflict("the lease expired and the item went to another rater")
    stored = {"assignment": target.id, "watch_ms": checked.watch_ms, "now": at}
    for n, (question, (choice, reasons)) in enumerate(choices.items()):
        stored |= {f"question{n}": question, f"choice{n}": choice, f"reasons{n}": sql.db_value(sql.REASONS_FIELD, reasons)}
    sql.run(sql.stored_sql(len(choices)), stored)
    tally = {"rater": target.rater_id, "passed": int(bool(passed)), "failed": int(bool(target.attention_expected and not passed))}
    ((votes_done,),), _ = sql.run(sql.TALLIED_SQL, tally)
    if target.study.early_stop or target.study.dynamic:
        _item_voted(target, choices)
    return votes_done


def _item_voted(target: Target, mine: dict[str, tuple[str, list[str]]]) -> None:
    """Early stopping marks the item decided once its outcome is (annotation/rating/early_stop.py);
    dynamic evaluation settles the study's pairs again, after commit, when this vote made the item's
    outcome final: decided, or its last vote (annotation/rating/dynamic.py)."""
    rows, _ = sql.run(sql.TALLY_SQL, {"item": target.item_id})
    tallies: dict[str, Counter] = {}
    for question, choice, count, _remaining in rows:
        tallies.setdefault(question, Counter())[choice] = count
    remaining = rows[0][3] if rows else 0
    decided = _final(target.study, tallies, remaining)
    # A full item is done, not stopped early: only one with votes still to come is marked.
    if target.study.early_stop and remaining > 0 and decided:
        sql.run(sql.DECIDED_SQL, {"item": target.item_id})
    if target.study.dynamic and not target.attention_expected and decided:
        before = {q: tallies[q] - Counter({choice: 1}) for q, (choice, _) in mine.items()}
        # Once, when this vote made it final; and again at its last vote, in case votes the analysis
        # leaves out (a rater below the attention threshold) made it look final sooner than it is.
        if remaining <= 0 or not _final(target.study, before, remaining + 1):
            transaction.on_commit(functools.partial(study_settle_request, study_id=target.study.id), robust=True)


def _final(study: StudyRules, tallies: dict[str, Counter], remaining: int) -> bool:
    """Whether an item's outcome can no longer change (votes store a, b and tie, the rule's labels)."""
    return sequential.outcome_final(tallies=tallies, questions=study.questions, allow_tie=study.allow_tie, remaining=remaining)
