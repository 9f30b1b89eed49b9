"""The claim: which item a rater is handed, made their assignment and counted on the item in one
transaction.

On PostgreSQL a claim locks its candidate item with `skip_locked`, so concurrent raters take different
rows instead of queueing. The check constraint `claimed <= raters_needed`, the unique (rater, item)
constraint and the one-live-assignment-per-rater constraint make overfilling an item, showing it twice
to one rater or leasing a rater two items impossible, whatever the interleaving.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.db import connection, transaction

from annotation.models import Assignment, Item, new_token
from annotation.raters.order import PRIME
from annotation.rating.lease import lease_take
from annotation.rating.prepared import Row, db_value, run
from annotation.rating.rules import StudyRules

ACTIVE = Assignment.Status.ACTIVE.value

# Which item a rater gets: a ready item of the study that still needs raters and that this rater has
# not seen, the one with the fewest claims; among those, the first in this rater's own permutation of
# the study's shuffle (annotation/raters/order.py; ties, of items made before the shuffle, by id).
# Sorting a whole level of claims per rater cost PostgreSQL 39 ms of CPU per vote on a 4,000-item
# study (bench/bench_annotation.py), so the permutation orders a window: the first WINDOW items of
# the least-claimed level in the study's shuffle read as a circle from the rater's own starting
# point (`start`, drawn with their permutation): the items from there on, then those before it, two
# walks of item_claimable_idx without a sort. A study up to WINDOW items is shuffled whole for
# each rater; in a larger one each rater starts at their own place of the circle (so an item's place
# in the sequence differs from rater to rater) and takes the window in their own order. The walks read a
# partial index of the claimable items only, so the items a study has finished are never stepped over; the
# window is put in order before the item rows are joined, so only the row taken is read again.
# The item row is locked (PostgreSQL) after the pick,
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
        SELECT f.* FROM (
            SELECT u.id, u.claimed, (u.shuffle * CAST(%(order_a)s AS BIGINT) + CAST(%(order_b)s AS BIGINT)) %% {PRIME} AS placed FROM (
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
        ) f
        ORDER BY f.claimed, f.placed, f.id
    ) f JOIN annotation_item i ON i.id = f.id
    WHERE i.claimed < i.raters_needed AND NOT i.decided
    ORDER BY f.claimed, f.placed, f.id
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
# shuffle mixes the pairs, so they progress evenly in expectation. The scan walks item_claimable_idx
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

Order = tuple[int, int]  # the rater's permutation of the study's shuffle (annotation/raters/order.py)


@dataclass(frozen=True)
class Shown:
    """What the rating page shows of a live assignment: its token, which side is left, the item's
    media tokens and the prompt."""

    token: str
    left: str
    token_a: str
    token_b: str
    prompt: str
    image: str

    @classmethod
    def from_row(cls, row: Row) -> Shown:
        """From a row with a column named as each field."""
        return cls(**{name: row[name] for name in SHOWN_FIELDS})


SHOWN_FIELDS = tuple(f.name for f in fields(Shown))


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


def assignment_claim(
    *, rater_id: int, study: StudyRules, now: datetime, order: Order, position: int, wait: bool = False
) -> Shown | None:
    """Claim the item the rules give this rater (CLAIM_SQL), in the caller's transaction if there is
    one, as the `position`-th of their sequence; None when there is none for them, or when they hold a
    live assignment already. With `wait`, rows other transactions hold are waited for (claim_sql)."""
    token, left = new_token(), random.choice([Assignment.Left.A, Assignment.Left.B]).value
    params = {
        "token": token, "rater": rater_id, "study": study.id, "left": left, "position": position,
        "order_a": order[0], "order_b": order[1], "start": order[1],
        "until": db_value(None, now + timedelta(seconds=study.lease_seconds)), "now": db_value(None, now),
    }
    with transaction.atomic(savepoint=False):
        made, _ = run(claim_sql(connection.vendor, wait, study.dynamic), params)
        if not made:
            return None
        taken = lease_take(item_id=made[0]["item_id"])
    return Shown.from_row({"token": token, "left": left, **taken})
