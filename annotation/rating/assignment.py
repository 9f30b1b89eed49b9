"""Handing items to raters: what `next` answers, the claim, the lease and its expiry.

An item's `claimed` counts its live leases plus its votes. A claim makes the assignment and counts
it on the item in one transaction (annotation/rating/sql.py); on PostgreSQL it locks its candidate
item with `skip_locked`, so concurrent raters take different rows instead of queueing. The check
constraint `claimed <= raters_needed`, the unique (rater, item) constraint and the
one-live-assignment-per-rater constraint make overfilling an item, showing it twice to one rater or
leasing a rater two items impossible, whatever the interleaving.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Assignment, Item, Study, new_token
from annotation.rating import sql

# Expire at most this many leases per sweep, so one claim never does unbounded work.
EXPIRE_BATCH = 500
# Seconds between two lazy sweeps of a study in one process; leases are minutes long.
EXPIRE_INTERVAL = 2
# Seconds a process trusts its count of a study's ready items (a rater's most); it changes only
# when items are added.
READY_COUNT_SECONDS = 10


@dataclass(frozen=True)
class StudyRules:
    """What rating needs of a study: its questions, reasons and tie policy, and how it hands out items."""

    id: int
    slug: str
    status: str
    questions: list[str]
    reasons: dict[str, list[dict]]
    tie_policy: str
    lease_seconds: int
    completion_code: str
    min_watch_ms: int
    early_stop: bool
    dynamic: bool

    # How many values of a row are the study's (sql.STUDY_COLUMNS).
    COLUMNS = 11

    @classmethod
    def from_row(cls, values: Sequence) -> StudyRules:
        """From the values of sql.STUDY_COLUMNS."""
        study_id, slug, status, questions, reasons, tie_policy, lease_seconds, completion_code, min_watch_ms, early_stop, dynamic = values
        return cls(study_id, slug, status, json.loads(questions), json.loads(reasons), tie_policy, lease_seconds, completion_code,
                   min_watch_ms, bool(early_stop), bool(dynamic))

    @property
    def allow_tie(self) -> bool:
        return self.tie_policy == Study.TiePolicy.ALLOW


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


@dataclass(frozen=True)
class Offer:
    """What `next` answers a rater: their live assignment, or none (and then why, from the rest)."""

    study: StudyRules
    assignment: Shown | None
    votes_done: int
    welcome: bool
    ready_items: int
    admitted: bool = True  # False until the rater passes the study's qualification
    consented: bool = True  # False until the rater agrees to the study's consent text, when it has one


Order = tuple[int, int]  # the rater's permutation of the study's shuffle (annotation/rating/order.py)


@dataclass(frozen=True)
class _RaterState:
    votes_done: int
    welcome: bool
    admitted: bool
    consented: bool
    order: Order
    study: StudyRules
    held_id: int | None
    held: Shown | None
    lapsed: bool


def assignment_next(*, rater_id: int, slug: str) -> Offer | None:
    """The rater's live assignment, or a newly claimed item, or none when nothing is left for them;
    None when study `slug` has no such rater.

    Only an open study hands out items, and only to a welcome rater (sql.WELCOME). The new item is
    one this rater has not seen, that still needs raters, with the fewest claims.
    """
    now = timezone.now()
    swept = sweep_if_due(slug, now)
    state = _rater_state(rater_id, slug, now)
    if state is None:
        return None
    if state.held is not None:
        # A closed study takes no votes: its live assignment is let go, or its rater would be handed an
        # item they can never submit instead of the completion code.
        if not state.lapsed and state.study.status != Study.Status.CLOSED:
            return offer(state.study, state.held, state.votes_done, state.welcome)
        # The rater's own lease ran out before a sweep saw it, and it would block a new one.
        lease_release(assignment_id=state.held_id)
    if not (state.admitted and state.consented):
        return offer(state.study, None, state.votes_done, state.welcome, admitted=state.admitted, consented=state.consented)
    if state.study.status != Study.Status.OPEN or not state.welcome:
        return offer(state.study, None, state.votes_done, state.welcome)
    claim = {"rater_id": rater_id, "study": state.study, "now": now, "order": state.order, "position": state.votes_done + 1}
    shown = assignment_claim(**claim)
    if shown is None and not swept and leases_expire(study_slug=slug, now=now):
        # Nothing free: expired leases may free some before the rater hears that nothing is left.
        shown = assignment_claim(**claim)
    if shown is None:
        # Nothing free to step over to: wait for the rows other requests hold before saying so.
        shown = assignment_claim(**claim, wait=True)
    if shown is None:
        # Nothing left, or another request of this rater (a second tab) claimed first: that one is the answer.
        state = _rater_state(rater_id, slug, now)
        return offer(state.study, state.held, state.votes_done, state.welcome)
    return offer(state.study, shown, state.votes_done, state.welcome)


def assignment_claim(
    *, rater_id: int, study: StudyRules, now: datetime, order: Order, position: int, wait: bool = False
) -> Shown | None:
    """Claim the item the rules give this rater (sql.CLAIM_SQL), in the caller's transaction if there is
    one, as the `position`-th of their sequence; None when there is none for them, or when they hold a
    live assignment already. With `wait`, rows other transactions hold are waited for (sql.claim_sql)."""
    token, left = new_token(), random.choice([Assignment.Left.A, Assignment.Left.B]).value
    params = {
        "token": token, "rater": rater_id, "study": study.id, "left": left, "position": position,
        "order_a": order[0], "order_b": order[1], "start": order[1],
        "until": sql.db_value(None, now + timedelta(seconds=study.lease_seconds)), "now": sql.db_value(None, now),
    }
    with transaction.atomic(savepoint=False):
        made, _ = sql.run(sql.claim_sql(connection.vendor, wait, study.dynamic), params)
        if not made:
            return None
        (item,) = made[0]
        (row,), _ = sql.run(sql.TAKE_SQL, {"item": item})
    return Shown(token, left, *row)


def _rater_state(rater_id: int, slug: str, now: datetime) -> _RaterState | None:
    rows, _ = sql.run(sql.RATER_SQL, {"rater": rater_id, "slug": slug, "now": sql.db_value(None, now)})
    if not rows:
        return None
    _, votes_done, welcome, admitted, consented, order_a, order_b, *values = rows[0]
    study, (held_id, token, left, lapsed, *shown) = StudyRules.from_row(values[: StudyRules.COLUMNS]), values[StudyRules.COLUMNS :]
    held = Shown(token, left, *shown) if held_id is not None else None
    return _RaterState(
        votes_done, bool(welcome), bool(admitted), bool(consented), (order_a, order_b), study, held_id, held, bool(lapsed)
    )


def offer(
    study: StudyRules, shown: Shown | None, votes_done: int, welcome: bool, admitted: bool = True, consented: bool = True
) -> Offer:
    """What `next` answers, with the study's count of ready items."""
    return Offer(study, shown, votes_done, welcome, ready_items=_ready_items(study.id), admitted=admitted, consented=consented)


def _ready_items(study_id: int) -> int:
    """The study's ready items: the most a rater may rate. Cached briefly, which spares a count per request."""
    key = f"ready-items:{study_id}"
    total = cache.get(key)
    if total is None:
        total = Item.objects.filter(study_id=study_id, status=Item.Status.READY).count()
        cache.set(key, total, timeout=READY_COUNT_SECONDS)
    return total


# -- leases ------------------------------------------------------------------------------------------


def sweep_if_due(slug: str, now: datetime) -> bool:
    """Sweep the study's expired leases, at most once per interval per process (every claim would
    otherwise pay for it); returns whether this call swept. A claim that finds nothing sweeps anyway
    before telling a rater that nothing is left."""
    if not cache.add(f"leases-expire:{slug}", 1, timeout=EXPIRE_INTERVAL):
        return False
    leases_expire(study_slug=slug, now=now)
    return True


def leases_expire(*, study_slug: str | None = None, now: datetime | None = None) -> int:
    """Return the claims of assignments whose lease ran out (in one study, if given) to the pool;
    returns how many expired.

    Rows another transaction is voting on are skipped (`skip_locked`): that vote decides them.
    """
    now = now or timezone.now()
    with transaction.atomic():
        stale = Assignment.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=Assignment.Status.ACTIVE, leased_until__lt=now
        )
        if study_slug is not None:
            stale = stale.filter(item__study__slug=study_slug)
        return _release(list(stale.values_list("pk", "item_id")[:EXPIRE_BATCH]))


def lease_release(*, assignment_id: int, status: str = Assignment.Status.EXPIRED) -> bool:
    """Let go of one live assignment (its lease ran out, its study closed, or its rater reported a
    problem: `status`), in the caller's transaction if there is one; False when it was not live."""
    with transaction.atomic():
        live = Assignment.objects.select_for_update().filter(pk=assignment_id, status=Assignment.Status.ACTIVE)
        return bool(_release(list(live.values_list("pk", "item_id")), status))


def _release(rows: list[tuple[int, int]], status: str = Assignment.Status.EXPIRED) -> int:
    """End these (assignment, item) leases, locked by the caller, with `status` (expired, or reported),
    and give their claims back to their items."""
    if rows:
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(status=status)
        # In item order: two sweeps running at once lock the same items in the same order, never a cycle.
        for item_id, count in sorted(Counter(item_id for _, item_id in rows).items()):
            Item.objects.filter(pk=item_id).update(claimed=F("claimed") - count)
    return len(rows)
