"""Model instances from the rows of hand-written SQL on the annotator's hot path.

`next` and `vote` run on every rating; their reads and writes are single statements of raw SQL on
PostgreSQL (the ORM would spend more CPU building each query than the database spends on it). The
rows come back here as instances the rest of the code uses as if the ORM had loaded them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import nullcontext

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model
from django.db.models.base import ModelState

from annotation.models import Study

# The study columns the annotator API reads, in the order study_from_row takes them (alias `s`),
# then the fingerprint of what a vote's answers are checked against.
STUDY_RULES_FINGERPRINT = "md5(s.questions::text || s.reasons::text || s.tie_policy)"
STUDY_COLUMNS = (
    "s.id, s.slug, s.questions::text, s.reasons::text, s.tie_policy, s.lease_seconds, s.completion_code, s.status, "
    + STUDY_RULES_FINGERPRINT
)
STUDY_WIDTH = 9

# {slug: (study, fingerprint)} as this process last read them: a vote is checked against its
# study's questions, reasons and tie policy before it is stored, and a vote's request names no
# study. The fingerprint goes with the vote, so a study edited since is seen (see voting.VOTE_SQL).
_rules: dict[str, tuple[Study, str]] = {}


def loaded(model: type[Model], **values: object) -> Model:
    """An instance as the ORM would load it with only these fields (the others deferred).

    `values` are attribute names (`study_id`, not `study`) with database values. This is what
    Model.from_db leaves behind (the values in the instance's __dict__, a state that says "from
    this database"), built in about a quarter of its time: from_db walks every field of the model.
    Reading a field not given loads it, as for any deferred field.
    """
    instance = model.__new__(model)
    state = instance._state = ModelState()
    state.adding, state.db = False, DEFAULT_DB_ALIAS
    instance.__dict__.update(values)
    return instance


def study_from_row(values: Sequence[object]) -> Study:
    """The study from the values of STUDY_COLUMNS; its rules are remembered for study_rules."""
    study_id, slug, questions, reasons, tie_policy, lease_seconds, completion_code, status, fingerprint = values
    study = loaded(
        Study, id=study_id, slug=slug, questions=json.loads(questions), reasons=json.loads(reasons), tie_policy=tie_policy,
        lease_seconds=lease_seconds, completion_code=completion_code, status=status,
    )
    known = _rules.get(slug)
    if known is None or known[1] != fingerprint:
        # Its own instance and values: a caller may change `study`, and threads share the rules.
        rules = loaded(
            Study, id=study_id, slug=slug, questions=json.loads(questions), reasons=json.loads(reasons), tie_policy=tie_policy,
        )
        _rules[slug] = (rules, fingerprint)
    return study


def study_rules(slug: str) -> tuple[Study, str] | None:
    """(study with its id, questions, reasons and tie policy; their fingerprint) as this process last
    read them for study `slug`, or None. Only the fingerprint says whether they still hold."""
    return _rules.get(slug)


def run(sql: str, params: dict[str, object], *, writes: bool = False) -> list[tuple]:
    """Run one statement of the hot path on PostgreSQL as a prepared statement; returns its rows.

    Planning these joins costs PostgreSQL more than running them, so each connection (persistent,
    CONN_MAX_AGE) plans each statement once. A single statement is atomic by itself and needs no
    transaction; inside a caller's transaction a savepoint keeps the failure of one that `writes`
    (a refused constraint) from aborting it.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy is a thread-local lookup
    db.ensure_connection()
    started = time.monotonic()
    with (
        transaction.atomic() if writes and db.in_atomic_block else nullcontext(),
        db.wrap_database_errors,
        psycopg.Cursor(db.connection) as cursor,  # server-side binding, which preparing needs
    ):
        cursor.execute(sql, params, prepare=True)
        rows = cursor.fetchall()  # every statement here returns rows
    if db.queries_logged:  # as Django's own cursors do, for DEBUG and query-counting tests
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows
