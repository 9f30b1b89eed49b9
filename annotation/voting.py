"""Recording a rater's answers for one assignment, exactly once.

The browser speaks in screen terms (left/right); votes are stored in system terms (a/b/tie),
translated through the placement stored on the assignment.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import QUALITY, Assignment, Item, Rater, Study, Vote
from annotation.rows import STUDY_COLUMNS, STUDY_RULES_FINGERPRINT, STUDY_WIDTH, loaded, run, study_from_row, study_rules

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


# An assignment with its item's attention fields (aliases `a` and `i`), as _assignment_from_row reads it.
ASSIGNMENT_COLUMNS = 'a.id, a.item_id, a."left", a.status, a.leased_until, a.created_at, a.voted_at, i.is_attention, i.expected'

# The rater among this browser's raters who holds assignment `token`, with the study and the
# assignment: everything a vote reads, in one round trip.
RATER_VOTE_SQL = f"""
SELECT r.id, r.worker_id, {STUDY_COLUMNS}, {ASSIGNMENT_COLUMNS}
FROM annotation_assignment a JOIN annotation_rater r ON r.id = a.rater_id JOIN annotation_study s ON s.id = r.study_id
JOIN annotation_item i ON i.id = a.item_id
WHERE a.token = %(token)s AND a.rater_id = ANY(%(raters)s)
"""  # noqa: S608 - constant SQL; the values are bound parameters


def rater_for_vote(*, token: str, rater_ids: Collection[int]) -> Rater | None:
    """The rater among `rater_ids` who holds assignment `token`, with the study loaded; None if none does.

    On PostgreSQL the same statement loads the assignment, which vote_submit then uses.
    """
    if not rater_ids:
        return None
    if connection.vendor != "postgresql":
        return Rater.objects.select_related("study").filter(pk__in=rater_ids, assignments__token=token).first()
    rows = run(RATER_VOTE_SQL, {"token": token, "raters": list(rater_ids)})
    if not rows:
        return None
    row = rows[0]
    rater = loaded(Rater, id=row[0], worker_id=row[1], study_id=row[2])
    rater.study = study_from_row(row[2 : 2 + STUDY_WIDTH])
    rater.loaded_assignment = _assignment_from_row(rater, token, row[2 + STUDY_WIDTH :])
    return rater


ASSIGNMENT_SQL = f"""
SELECT {ASSIGNMENT_COLUMNS}
FROM annotation_assignment a JOIN annotation_item i ON i.id = a.item_id
WHERE a.token = %(token)s AND a.rater_id = %(rater)s
"""  # noqa: S608 - constant SQL; the values are bound parameters


def _assignment_of(rater: Rater, token: str) -> Assignment | None:
    """Rater's assignment `token` with its item's attention fields, or None."""
    loaded_assignment = rater.__dict__.pop("loaded_assignment", None)  # by rater_for_vote
    if loaded_assignment is not None and loaded_assignment.token == token:
        return loaded_assignment
    if connection.vendor != "postgresql":
        return Assignment.objects.select_related("item").filter(token=token, rater=rater).first()
    rows = run(ASSIGNMENT_SQL, {"token": token, "rater": rater.pk})
    return _assignment_from_row(rater, token, rows[0]) if rows else None


def _assignment_from_row(rater: Rater, token: str, values: Sequence[object]) -> Assignment:
    assignment_id, item_id, left, status, leased_until, created_at, voted_at, is_attention, expected = values
    assignment = loaded(
        Assignment, id=assignment_id, token=token, rater_id=rater.pk, item_id=item_id, left=left, status=status,
        leased_until=leased_until, created_at=created_at, voted_at=voted_at,
    )
    assignment.rater = rater
    assignment.item = loaded(Item, id=item_id, is_attention=is_attention, expected=expected)
    return assignment


def vote_submit(*, rater: Rater, token: str, payload: object) -> list[Vote]:
    """Store the rater's answers for assignment `token`; raises VoteError (400/403/409) with a message.

    `rater.study` is taken as loaded by the caller: a study closed while a vote is in flight may
    still take that vote.
    """
    study = rater.study
    assignment = _assignment_of(rater, token)
    if assignment is None:
        raise VoteForbidden("this assignment is not yours")
    # The state is checked before the body: a client retrying a vote whose answer it lost is told
    # the vote is in (409), not that its retry is malformed.
    if study.status == Study.Status.CLOSED:
        raise VoteConflict("the study is closed")
    if assignment.status == Assignment.Status.VOTED:
        raise VoteConflict("this assignment was already voted")
    answers, watch_ms = _answers(study, payload)
    other = Assignment.Left.B if assignment.left == Assignment.Left.A else Assignment.Left.A
    side = {"left": assignment.left, "right": other, "tie": Vote.Choice.TIE}
    # Stored in system terms: {question: (a|b|tie, reasons)}.
    choices = {q: (side[choice], reasons) for q, (choice, reasons) in answers.items()}
    simple = assignment.status == Assignment.Status.ACTIVE and not (assignment.item.is_attention and assignment.item.expected)
    record = _record_postgresql if simple and connection.vendor == "postgresql" else _record
    try:
        return record(assignment, study, choices, watch_ms)
    except _Moved:
        # Another request voted on it first, or the sweep expired its lease meanwhile: decide again
        # on the status now stored (a status only moves forward, so this happens at most twice).
        return vote_submit(rater=rater, token=token, payload=payload)
    except IntegrityError:
        # Only a concurrent duplicate submission can trip the unique (assignment, question) guard.
        raise VoteConflict("this assignment was already voted") from None


class _Moved(Exception):
    """The assignment's status changed between reading it and voting on it."""


def _record(assignment: Assignment, study: Study, choices: dict[str, tuple[str, list[str]]], watch_ms: int) -> list[Vote]:
    """Mark the assignment voted, count the vote on its item and store one vote per question (any database)."""
    item = assignment.item
    with transaction.atomic():
        # Compare-and-swap on the status read before: of two submissions racing on one assignment
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
            Vote(assignment=assignment, question=q, choice=choice, reasons=reasons, watch_ms=watch_ms)
            for q, (choice, reasons) in choices.items()
        )
        tally = {"votes_done": F("votes_done") + 1}
        if item.is_attention and item.expected:
            passed = choices[_attention_question(study)][0] == item.expected
            field = "attention_passed" if passed else "attention_failed"
            tally[field] = F(field) + 1
        Rater.objects.filter(pk=assignment.rater_id).update(**tally)
    return votes


# _record for a live assignment of an ordinary item, as one statement: the compare-and-swap, the
# item's count and the votes either all happen or, when the status moved, none does.
RECORD_SQL = f"""
WITH moved AS (
    UPDATE annotation_assignment SET status = '{Assignment.Status.VOTED.value}', voted_at = %(now)s
    WHERE id = %(assignment)s AND status = '{Assignment.Status.ACTIVE.value}'
    RETURNING id, item_id, rater_id
), counted AS (
    UPDATE annotation_item i SET votes_done = i.votes_done + 1 FROM moved WHERE i.id = moved.item_id
), tallied AS (
    UPDATE annotation_rater r SET votes_done = r.votes_done + 1 FROM moved WHERE r.id = moved.rater_id
), stored AS (
    INSERT INTO annotation_vote (assignment_id, question, choice, reasons, watch_ms, created_at)
    SELECT moved.id, v.question, v.choice, v.reasons, %(watch_ms)s, %(now)s
    FROM moved, jsonb_to_recordset(%(votes)s::jsonb) AS v(question text, choice text, reasons jsonb)
    RETURNING id, question
)
SELECT id, question FROM stored
"""  # noqa: S608 - constant SQL; the values are bound parameters


def _votes_document(choices: dict[str, tuple[str, list[str]]]) -> str:
    """{question: (choice, reasons)} as the JSON document RECORD_SQL and VOTE_SQL read with
    jsonb_to_recordset: one parameter to send instead of an array per column."""
    return json.dumps([{"question": q, "choice": choice, "reasons": reasons} for q, (choice, reasons) in choices.items()])


def _record_postgresql(assignment: Assignment, study: Study, choices: dict[str, tuple[str, list[str]]], watch_ms: int) -> list[Vote]:
    now = timezone.now()
    params = {"assignment": assignment.pk, "now": now, "watch_ms": watch_ms, "votes": _votes_document(choices)}
    rows = run(RECORD_SQL, params, writes=True)
    if not rows:
        raise _Moved
    return [
        loaded(Vote, id=vote_id, assignment_id=assignment.pk, question=q, choice=choices[q][0], reasons=choices[q][1],
               watch_ms=watch_ms, created_at=now)
        for vote_id, q in rows
    ]


# The common vote in one statement: rater `rater`'s live assignment `token` of an ordinary item,
# in study `study` while it is not closed and its questions, reasons and tie policy still have the
# fingerprint the answers were checked against. The compare-and-swap, the item's count and the
# votes, with each choice turned from screen terms into system terms by the assignment's placement,
# all happen or, when anything differs, none does.
VOTE_SQL = f"""
WITH moved AS (
    UPDATE annotation_assignment a SET status = '{Assignment.Status.VOTED.value}', voted_at = %(now)s
    FROM annotation_item i, annotation_study s
    WHERE a.token = %(token)s AND a.rater_id = %(rater)s AND a.status = '{Assignment.Status.ACTIVE.value}'
      AND i.id = a.item_id AND NOT (i.is_attention AND i.expected <> '')
      AND s.id = i.study_id AND s.id = %(study)s AND s.status <> '{Study.Status.CLOSED.value}'
      AND {STUDY_RULES_FINGERPRINT} = %(fingerprint)s
    RETURNING a.id, a.item_id, a."left"
), counted AS (
    UPDATE annotation_item i SET votes_done = i.votes_done + 1 FROM moved WHERE i.id = moved.item_id
), tallied AS (
    UPDATE annotation_rater r SET votes_done = r.votes_done + 1 FROM moved WHERE r.id = %(rater)s
), stored AS (
    INSERT INTO annotation_vote (assignment_id, question, choice, reasons, watch_ms, created_at)
    SELECT moved.id, v.question,
           CASE v.choice WHEN 'left' THEN moved."left"
                         WHEN 'right' THEN CASE moved."left" WHEN '{Assignment.Left.A.value}' THEN '{Assignment.Left.B.value}'
                                                             ELSE '{Assignment.Left.A.value}' END
                         ELSE '{Vote.Choice.TIE.value}' END,
           v.reasons, %(watch_ms)s, %(now)s
    FROM moved, jsonb_to_recordset(%(votes)s::jsonb) AS v(question text, choice text, reasons jsonb)
    RETURNING id
)
SELECT COUNT(*) FROM stored
"""  # noqa: S608 - constant SQL; the values are bound parameters


def vote_quick(*, slug: str, rater_id: int, token: str, payload: object) -> bool:
    """Store the answers in one statement (VOTE_SQL) when this is the common vote; True when stored.

    False, with nothing written, in every other case (another database, a study this process has
    not read yet, answers that don't fit it, an attention item, a vote already in, a closed study,
    an assignment not this rater's): vote_submit then decides, and says why when it refuses.
    """
    rules = study_rules(slug)
    if rules is None or connection.vendor != "postgresql":
        return False
    study, fingerprint = rules
    try:
        answers, watch_ms = _answers(study, payload)
    except VoteInvalid:
        return False
    params = {"token": token, "rater": rater_id, "study": study.pk, "fingerprint": fingerprint, "now": timezone.now(),
              "watch_ms": watch_ms, "votes": _votes_document(answers)}
    try:
        (stored,) = run(VOTE_SQL, params, writes=True)[0]
    except IntegrityError:
        return False  # a concurrent duplicate; vote_submit answers 409
    return stored > 0
