"""The rating rules' statements: what `next` and a vote read and write, in SQL that PostgreSQL and SQLite both run.

They run on every rating, so they are plain SQL rather than ORM queries: building an ORM query costs
this code's machine more CPU than PostgreSQL spends running it (measured in the README: 45 votes/s
through the ORM against about 200 with these statements). Each rule is written here once, for both
databases: the demo's SQLite runs exactly what production's PostgreSQL runs. The only difference
is how rows get locked: PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, while SQLite has one writer
at a time (every transaction begins IMMEDIATE, settings.DATABASES).

Values go in as bound parameters, adapted for the database by `db_value`; PostgreSQL plans each
statement once per connection (prepared statements, juice/env.py).
"""

from __future__ import annotations

import functools
import time
from datetime import datetime

import psycopg
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field
from psycopg.pq import ExecStatus

from annotation.models import Assignment, Item, Rater, Study, Vote
from annotation.raters.order import PRIME

ACTIVE, VOTED = Assignment.Status.ACTIVE.value, Assignment.Status.VOTED.value
INVITED = Rater.Source.INVITED.value
INVITATIONS = Study.invited.through._meta.db_table
USERS = get_user_model()._meta.db_table

# Who may be handed new items (alias `r`, a rater): a crowd rater always; an invited account while it
# is active and still invited (a withdrawn invitation lets it finish the item it holds, no more).
# Decided by the rater's source, not its user: a deleted account's rater has no user left.
WELCOME = f"""(r.source <> '{INVITED}' OR EXISTS (
    SELECT 1 FROM {INVITATIONS} v JOIN {USERS} u ON u.id = v.user_id
    WHERE v.study_id = r.study_id AND v.user_id = r.user_id AND u.is_active))"""  # noqa: S608 - table names

# The study's rules for answering and handing out items (alias `s`), in the order StudyRules takes them.
STUDY_COLUMNS = (
    "s.id, s.slug, s.status, CAST(s.questions AS TEXT), CAST(s.reasons AS TEXT), s.tie_policy, s.lease_seconds, s.completion_code,"
    " s.min_watch_ms, s.early_stop, s.dynamic"
)

# A rater of study `slug` with everything `next` shows: the study's rules, the rater's votes so far,
# whether they are welcome, admitted (qualification) and have agreed to the consent text (when the
# study has one), and their live assignment (if any) with what the rating page shows of it.
RATER_SQL = f"""
SELECT r.id, r.votes_done, {WELCOME}, r.admitted, (s.consent = '' OR r.consented_at IS NOT NULL), r.order_a, r.order_b,
       {STUDY_COLUMNS},
       a.id, a.token, a."left", a.leased_until < %(now)s, i.token_a, i.token_b, p.text, p.image
FROM annotation_rater r
JOIN annotation_study s ON s.id = r.study_id
LEFT JOIN annotation_assignment a ON a.rater_id = r.id AND a.status = '{ACTIVE}'
LEFT JOIN annotation_item i ON i.id = a.item_id
LEFT JOIN annotation_prompt p ON p.id = i.prompt_id
WHERE r.id = %(rater)s AND s.slug = %(slug)s
"""  # noqa: S608 - constant SQL; the values are bound parameters

# Which item a rater gets: a ready item of the study that still needs raters and that this rater has
# not seen, the one with the fewest claims; among those, the first in this rater's own permutation of
# the study's shuffle (annotation/rating/order.py; ties, of items made before the shuffle, by id).
# Sorting a whole level of claims per rater cost PostgreSQL 39 ms of CPU per vote on a 4,000-item
# study (bench/bench_annotation.py), so the permutation orders a window: the first WINDOW items of
# the least-claimed level in the study's shuffle read as a circle from the rater's own starting
# point (`start`, drawn with their permutation): the items from there on, then those before it, two
# walks of item_pool_shuffle_idx without a sort. A study up to WINDOW items is shuffled whole for
# each rater; in a larger one each rater starts at their own place of the circle (so an item's place
# in the sequence differs from rater to rater) and takes the window in their own order. The item row is locked (PostgreSQL) after the pick,
# skipping rows other claims hold, and its room checked again on the locked row. The items this rater
# has seen are read once (NOT IN: a hashed list on PostgreSQL), not probed per item of the window.
# The assignment is made first, naming it and its place in the rater's sequence; the item's count
# follows in the same transaction. A rater who holds a live assignment already (a second tab claimed
# it a moment ago) gets none: the one-live-assignment constraint skips the row (ON CONFLICT DO
# NOTHING), and no transaction aborts.
WINDOW = 32
# The items a claim may take from: ready, room left, not decided, not seen by this rater.
CLAIMABLE = f"""w.study_id = %(study)s AND w.status = '{Item.Status.READY.value}' AND w.claimed < w.raters_needed AND NOT w.decided
          AND w.id NOT IN (SELECT seen.item_id FROM annotation_assignment seen WHERE seen.rater_id = %(rater)s)"""  # noqa: S608
CLAIM_SQL = f"""
INSERT INTO annotation_assignment (token, rater_id, item_id, "left", status, leased_until, created_at, position)
SELECT %(token)s, %(rater)s, c.id, %(left)s, '{ACTIVE}', %(until)s, %(now)s, %(position)s
FROM (
    SELECT i.id FROM (
        SELECT u.id, u.claimed, u.shuffle FROM (
            SELECT * FROM (
                SELECT w.id, w.claimed, w.shuffle, 0 AS wrapped FROM annotation_item w
                WHERE {CLAIMABLE} AND w.shuffle >= %(start)s
                ORDER BY w.claimed, w.shuffle, w.id LIMIT {WINDOW}
            ) later
            UNION ALL
            SELECT * FROM (
                SELECT w.id, w.claimed, w.shuffle, 1 AS wrapped FROM annotation_item w
                WHERE {CLAIMABLE} AND w.shuffle < %(start)s
                ORDER BY w.claimed, w.shuffle, w.id LIMIT {WINDOW}
            ) earlier
        ) u
        ORDER BY u.claimed, u.wrapped, u.shuffle, u.id
        LIMIT {WINDOW}
    ) f JOIN annotation_item i ON i.id = f.id
    WHERE i.claimed < i.raters_needed AND NOT i.decided
    ORDER BY f.claimed, (f.shuffle * CAST(%(order_a)s AS BIGINT) + CAST(%(order_b)s AS BIGINT)) %% {PRIME}, f.id
    LIMIT 1{{lock}}
) c
WHERE true
ON CONFLICT DO NOTHING
RETURNING item_id
"""  # noqa: S608 - constant SQL; the values are bound parameters; SQLite needs the WHERE before ON CONFLICT

# Which item a rater gets in a dynamic study (Study.dynamic): depth first, the most-claimed item that
# still has room and that this rater has not seen, ties in the study's shuffle (read backwards). An
# item then finishes as soon as its raters can give it their votes, rather than once every item of
# the study has had the votes before its deciding one: each finished item is a look of the stopping
# rule (annotation/rating/dynamic.py), so the looks come early and a settled pair stops early. The
# shuffle mixes the pairs, so they progress evenly in expectation. The scan walks item_pool_shuffle_idx
# backwards from just below the study's rater count (full items are never read) and locks the row it
# takes, stepping over rows other claims hold, as CLAIM_SQL does.
DEPTH_CLAIM_SQL = f"""
INSERT INTO annotation_assignment (token, rater_id, item_id, "left", status, leased_until, created_at, position)
SELECT %(token)s, %(rater)s, c.id, %(left)s, '{ACTIVE}', %(until)s, %(now)s, %(position)s
FROM (
    SELECT w.id FROM annotation_item w
    WHERE {CLAIMABLE} AND w.claimed < (SELECT s.raters_per_item FROM annotation_study s WHERE s.id = %(study)s)
    ORDER BY w.claimed DESC, w.shuffle DESC, w.id DESC
    LIMIT 1{{lock}}
) c
WHERE true
ON CONFLICT DO NOTHING
RETURNING item_id
"""  # noqa: S608 - constant SQL; the values are bound parameters

# The claimed item's count goes up (the check constraint caps it at raters_needed); it answers with
# what the rating page shows of the item.
TAKE_SQL = """
UPDATE annotation_item SET claimed = claimed + 1 WHERE id = %(item)s
RETURNING token_a, token_b,
    (SELECT text FROM annotation_prompt WHERE id = prompt_id), (SELECT image FROM annotation_prompt WHERE id = prompt_id)
"""

# An assignment by its token, with its rater's study and whether the rater is welcome, and its item's
# attention fields: everything a vote reads.
ASSIGNMENT_SQL = f"""
SELECT a.id, a.rater_id, a.item_id, a."left", a.status, i.is_attention, i.expected, {WELCOME}, r.order_a, r.order_b,
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

# Early stopping: the item's votes per question and choice, and its count of votes to come (read after
# COUNTED_SQL, whose lock on the item row makes two votes on one item count in turn), then the mark.
TALLY_SQL = """
SELECT v.question, v.choice, COUNT(*), (SELECT raters_needed - votes_done FROM annotation_item WHERE id = %(item)s)
FROM annotation_vote v JOIN annotation_assignment a ON a.id = v.assignment_id
WHERE a.item_id = %(item)s
GROUP BY v.question, v.choice
"""
DECIDED_SQL = "UPDATE annotation_item SET decided = TRUE WHERE id = %(item)s"

# Dynamic evaluation (annotation/rating/dynamic.py): a vote that finished an item asks for the study's
# pairs to be settled again, and is told the count its request has.
SETTLE_WANTED_SQL = "UPDATE annotation_study SET settle_wanted = settle_wanted + 1 WHERE id = %(study)s RETURNING settle_wanted"

# The rater's tally, which `next` shows as progress, and their attention checks.
TALLIED_SQL = """
UPDATE annotation_rater SET votes_done = votes_done + 1,
    attention_passed = attention_passed + %(passed)s, attention_failed = attention_failed + %(failed)s
WHERE id = %(rater)s
RETURNING votes_done
"""


@functools.cache
def claim_sql(vendor: str, wait: bool = False, depth_first: bool = False) -> str:
    """CLAIM_SQL (or DEPTH_CLAIM_SQL, for dynamic studies) with the lock of this database
    (`connection.vendor`): PostgreSQL's concurrent raters step over each other's candidate rows
    (`skip_locked`) instead of queueing, unless `wait` (when stepping over found nothing: the rows a
    rater has left may all be held for a moment by other claims and votes, and "nothing left" must
    not be said then); SQLite runs one writer at a time."""
    statement, table = (DEPTH_CLAIM_SQL, "w") if depth_first else (CLAIM_SQL, "i")
    if vendor != "postgresql":
        return statement.format(lock="")
    return statement.format(lock=f" FOR UPDATE OF {table}" if wait else f" FOR UPDATE OF {table} SKIP LOCKED")


@functools.cache
def stored_sql(questions: int) -> str:
    return STORED_SQL.format(rows=", ".join(STORED_ROW.format(n=n) for n in range(questions)))


def db_value(field: Field | None, value: object) -> object:
    """`value` as this database stores it: a datetime as SQLite's text, a JSON value as PostgreSQL's jsonb."""
    db = connections[DEFAULT_DB_ALIAS]
    if isinstance(value, datetime):
        return db.ops.adapt_datetimefield_value(value)
    return field.get_db_prep_save(value, db) if field is not None else value


REASONS_FIELD = Vote._meta.get_field("reasons")
TUPLES_OK = ExecStatus.TUPLES_OK


def run(sql: str, params: dict[str, object]) -> tuple[list[tuple], int]:
    """Run one statement; returns (its rows, how many rows it changed). The count is for statements
    without RETURNING (some SQLite versions leave it unset with RETURNING): read the rows there.

    On PostgreSQL as a prepared statement: planning these joins costs more than running them, so each
    connection (persistent, CONN_MAX_AGE) plans each statement once. Errors (a refused constraint)
    reach the caller, whose transaction they roll back.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy is a thread-local lookup
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return (cursor.fetchall() if cursor.description else []), cursor.rowcount
    db.ensure_connection()
    started = time.monotonic()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:  # server-side binding, which preparing needs
        cursor.execute(sql, params, prepare=True)
        # A statement's rows, if it returns any (asking `description` would build its columns' descriptions).
        rows = cursor.fetchall() if cursor.pgresult.status == TUPLES_OK else []
        changed = cursor.rowcount
    if db.queries_logged:  # as Django's own cursors do, for DEBUG and query-counting tests
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows, changed
