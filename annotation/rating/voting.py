"""The vote: a rater's answers for one assignment, recorded exactly once, and tallied on its item.

The browser speaks in screen terms (left/right); votes are stored in system terms (a/b/tie),
translated through the placement stored on the assignment (annotation/rating/sides.py).

A vote's refusals come in this order: whose assignment (NotYours, `assignment_for_vote`), how fast
(RateLimited, likewise), the body against its schema (the API parses it then: InputError), the
assignment's state (VoteConflict), the answers against the study (VoteInvalid); so a client retrying
a vote whose answer it lost is told the vote is in, not that its retry breaks the study's rules.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from analysis import sequential
from annotation.models import QUALITY, Assignment, Study, Vote
from annotation.rating.analysed import report_outdated
from annotation.rating.assignment import Offer, assignment_next, offer
from annotation.rating.claim import Order, assignment_claim
from annotation.rating.dynamic import item_settlement_due
from annotation.rating.lease import sweep_if_due
from annotation.rating.prepared import Row, db_value, run
from annotation.rating.rules import STUDY_COLUMNS, WELCOME, StudyRules
from annotation.rating.schemas import Ballot
from annotation.rating.sides import LEFT, RIGHT, TIE, stored_choice
from juice.ratelimit import rate_limit_exceeded
from juice.refusals import Conflict, Forbidden, Invalid, RateLimited, echoed

logger = logging.getLogger(__name__)

# An assignment by its token, with its rater's study and whether the rater is welcome, and its item's
# attention fields: everything a vote reads.
ASSIGNMENT_SQL = f"""
SELECT a.id, a.rater_id, a.item_id, a."left", a.status, i.is_attention, i.expected, {WELCOME} AS welcome, r.order_a, r.order_b,
       {STUDY_COLUMNS}
FROM annotation_assignment a
JOIN annotation_rater r ON r.id = a.rater_id
JOIN annotation_study s ON s.id = r.study_id
JOIN annotation_item i ON i.id = a.item_id
WHERE a.token = %(token)s
"""  # noqa: S608 - constant SQL; the values are bound parameters

# Recording a vote, in one transaction. First the compare-and-swap on the status read before: of two
# submissions racing on one assignment (a double click, two tabs) or a vote racing the lease sweep,
# exactly one moves it on.
VOTED = Assignment.Status.VOTED.value
VOTED_SQL = f"""
UPDATE annotation_assignment SET status = '{VOTED}', voted_at = %(now)s WHERE id = %(assignment)s AND status = %(status)s
"""  # noqa: S608 - constant SQL; the values are bound parameters

# The vote counts on its item. A late vote (its lease expired and its claim went back to the pool)
# claims again, and counts only if the item still has room.
COUNTED_SQL = """
UPDATE annotation_item SET votes_done = votes_done + 1, claimed = claimed + %(late)s
WHERE id = %(item)s AND (%(late)s = 0 OR claimed < raters_needed)
"""

# One row per question; the statement is made for the number of questions (one or two).
STORED_SQL = "INSERT INTO annotation_vote (assignment_id, question, choice, reasons, watch_ms, created_at) VALUES {rows}"
STORED_ROW = "(%(assignment)s, %(question{n})s, %(choice{n})s, %(reasons{n})s, %(watch_ms)s, %(now)s)"
REASONS_FIELD = Vote._meta.get_field("reasons")

# The rater's tally, which `next` shows as progress, and their attention checks.
TALLIED_SQL = """
UPDATE annotation_rater SET votes_done = votes_done + 1,
    attention_passed = attention_passed + %(passed)s, attention_failed = attention_failed + %(failed)s
WHERE id = %(rater)s
RETURNING votes_done
"""

# Early stopping: the item's votes per question and choice, and its count of votes to come (read after
# COUNTED_SQL, whose lock on the item row makes two votes on one item count in turn), then the mark.
TALLY_SQL = """
SELECT v.question, v.choice, COUNT(*) AS votes, (SELECT raters_needed - votes_done FROM annotation_item WHERE id = %(item)s) AS remaining
FROM annotation_vote v JOIN annotation_assignment a ON a.id = v.assignment_id
WHERE a.item_id = %(item)s
GROUP BY v.question, v.choice
"""
DECIDED_SQL = "UPDATE annotation_item SET decided = TRUE WHERE id = %(item)s"


class NotYours(Forbidden):
    """The assignment is not one of the asker's (or there is no such assignment)."""


class VoteConflict(Conflict):
    """The assignment takes no vote (or report) now: voted, reported, practice, its study closed, or
    its lease gone to another rater."""


class VoteInvalid(Invalid):
    """The answers break the study's rules (a question missing, a choice or reason it does not offer)."""


@dataclass(frozen=True)
class Voted:
    """A stored vote: the rater's votes so far and, when asked for, what `next` now answers."""

    votes_done: int
    next: Offer | None = None


@dataclass(frozen=True)
class Target:
    """The assignment a vote or a report is for, as ASSIGNMENT_SQL reads it."""

    token: str
    id: int
    rater_id: int
    item_id: int
    left: str
    status: str
    attention_expected: str
    welcome: bool
    order: Order
    study: StudyRules

    @classmethod
    def from_row(cls, token: str, row: Row) -> Target:
        return cls(
            token=token, id=row["id"], rater_id=row["rater_id"], item_id=row["item_id"], left=row["left"], status=row["status"],
            attention_expected=row["expected"] if row["is_attention"] else "", welcome=bool(row["welcome"]),
            order=(row["order_a"], row["order_b"]), study=StudyRules.from_row(row),
        )


def assignment_held(*, rater_ids: Collection[int], token: str) -> Target:
    """The assignment `token` with what a vote or a report reads of it; NotYours unless one of
    `rater_ids` (the raters this browser joined as) holds it."""
    if not rater_ids:  # this browser joined no study: no assignment of its own to look up
        raise NotYours("this assignment is not yours")
    rows, _ = run(ASSIGNMENT_SQL, {"token": token})
    if not rows or rows[0]["rater_id"] not in rater_ids:
        raise NotYours("this assignment is not yours")
    return Target.from_row(token, rows[0])


def assignment_for_vote(*, rater_ids: Collection[int], token: str) -> Target:
    """The assignment `token` if one of `rater_ids` holds it (NotYours otherwise) and its rater may vote
    now (RateLimited otherwise): the checks before a vote's body is read."""
    target = assignment_held(rater_ids=rater_ids, token=token)
    if rate_limit_exceeded(scope="vote", key=str(target.rater_id), limit=settings.JUICE_RATE_VOTE_PER_MINUTE):
        raise RateLimited("too many votes; slow down")
    return target


def vote_submit(*, target: Target, ballot: Ballot, then_next: bool = False) -> Voted:
    """Store the answers of `ballot` for the assignment `target` (from `assignment_for_vote`); raises
    VoteConflict or VoteInvalid with a message. With `then_next`, the answer also holds what `next`
    would now answer, which spares the rating page a second request."""
    while True:
        assignment_check_state(target)
        voted = _vote_and_claim(target, _checked(target.study, ballot), then_next)
        if voted is not None:
            report_outdated(study_id=target.study.id)  # computed in the background, a moment later
            return voted
        # Another request voted on it first, or the sweep expired its lease meanwhile: decide again on
        # the status now stored (it only moves forward: active, then expired, reported or voted).
        target = assignment_held(rater_ids={target.rater_id}, token=target.token)


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


def _checked(study: StudyRules, ballot: Ballot) -> _Checked:
    """The ballot checked against the study's questions, reasons, tie policy and watch time."""
    if ballot.watch_ms < study.min_watch_ms:
        raise VoteInvalid(f"watch_ms: the videos were watched for {ballot.watch_ms} ms; this study asks for at least "
                          f"{study.min_watch_ms} ms of watching before a vote")
    choices = (LEFT, RIGHT, TIE) if study.allow_tie else (LEFT, RIGHT)
    answers = {}
    for question in study.questions:
        answer = ballot.answers.get(question)
        if answer is None:
            raise VoteInvalid(f"question {question!r} is missing")
        if answer.choice not in choices:
            raise VoteInvalid(f"{question}: choice must be one of {', '.join(choices)}")
        if not answer.reasons:
            raise VoteInvalid(f"{question}: tick at least one reason")
        allowed = {r["key"] for r in study.reasons.get(question, [])}
        bad = [r for r in answer.reasons if r not in allowed]
        if bad:
            raise VoteInvalid(f"{question}: unknown reason {echoed(bad[0])!r}")
        answers[question] = (answer.choice, list(dict.fromkeys(answer.reasons)))
    return _Checked(answers, ballot.watch_ms)


def attention_question(questions: list[str]) -> str:
    """The question an attention item is scored on: a frozen video loses on quality for sure;
    faithfulness only counts when quality is not asked."""
    return QUALITY if QUALITY in questions else questions[0]


def _record(target: Target, checked: _Checked, now: datetime) -> int | None:
    """In the caller's transaction: mark the assignment voted, count the vote on its item, store one
    vote per question and tally it on the rater; returns the rater's votes so far, or None when the
    assignment's status moved since it was read (nothing is written then)."""
    choices = {q: (stored_choice(choice, target.left), reasons) for q, (choice, reasons) in checked.answers.items()}
    passed = target.attention_expected and choices[attention_question(target.study.questions)][0] == target.attention_expected
    at = db_value(None, now)
    _, moved = run(VOTED_SQL, {"now": at, "assignment": target.id, "status": target.status})
    if not moved:
        return None
    late = int(target.status == Assignment.Status.EXPIRED)
    _, counted = run(COUNTED_SQL, {"item": target.item_id, "late": late})
    if not counted:
        # Its claim went back to the pool, and the item has had all its raters since.
        raise VoteConflict("the lease expired and the item went to another rater")
    stored = {"assignment": target.id, "watch_ms": checked.watch_ms, "now": at}
    for n, (question, (choice, reasons)) in enumerate(choices.items()):
        stored |= {f"question{n}": question, f"choice{n}": choice, f"reasons{n}": db_value(REASONS_FIELD, reasons)}
    run(stored_sql(len(choices)), stored)
    tally = {"rater": target.rater_id, "passed": int(bool(passed)), "failed": int(bool(target.attention_expected and not passed))}
    (tallied,), _ = run(TALLIED_SQL, tally)
    if target.study.early_stop or target.study.dynamic:
        _item_voted(target, choices)
    return tallied["votes_done"]


@functools.cache
def stored_sql(questions: int) -> str:
    return STORED_SQL.format(rows=", ".join(STORED_ROW.format(n=n) for n in range(questions)))


def _item_voted(target: Target, mine: dict[str, tuple[str, list[str]]]) -> None:
    """Early stopping marks the item decided once its outcome is (annotation/rating/early_stop.py);
    dynamic evaluation marks it for settlement, which runs in the background after commit, when this
    vote made the item's outcome final: decided, or its last vote (annotation/rating/dynamic.py)."""
    rows, _ = run(TALLY_SQL, {"item": target.item_id})
    tallies: dict[str, Counter] = {}
    for row in rows:
        tallies.setdefault(row["question"], Counter())[row["choice"]] = row["votes"]
    remaining = rows[0]["remaining"] if rows else 0
    decided = _final(target.study, tallies, remaining)
    # A full item is done, not stopped early: only one with votes still to come is marked.
    if target.study.early_stop and remaining > 0 and decided:
        run(DECIDED_SQL, {"item": target.item_id})
    if target.study.dynamic and not target.attention_expected and decided:
        before = {q: tallies[q] - Counter({choice: 1}) for q, (choice, _) in mine.items()}
        # Once, when this vote made it final; and again at its last vote, in case votes the analysis
        # leaves out (a rater below the attention threshold) made it look final sooner than it is.
        if remaining <= 0 or not _final(target.study, before, remaining + 1):
            item_settlement_due(study_id=target.study.id, item_id=target.item_id)


def _final(study: StudyRules, tallies: dict[str, Counter], remaining: int) -> bool:
    """Whether an item's outcome can no longer change (votes store a, b and tie, the rule's labels)."""
    return sequential.outcome_final(tallies=tallies, questions=study.questions, allow_tie=study.allow_tie, remaining=remaining)
