"""What `next` answers a rater: their live assignment, a newly claimed item (annotation/rating/claim.py),
or none and why (not welcome, not admitted or consented yet, the study paused, nothing left)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from annotation.models import Assignment, Item, Study
from annotation.rating.claim import Order, Shown, assignment_claim
from annotation.rating.lease import lease_release, leases_expire, sweep_if_due
from annotation.rating.prepared import Row, db_value, run
from annotation.rating.rules import STUDY_COLUMNS, WELCOME, StudyRules

# Seconds a process trusts its count of a study's ready items (a rater's most); it changes only
# when items are added.
READY_COUNT_SECONDS = 10

# A rater of study `slug` with everything `next` shows: the study's rules, the rater's votes so far,
# whether they are welcome, admitted (qualification) and have agreed to the consent text (when the
# study has one), and their live assignment (if any) with what the rating page shows of it.
RATER_SQL = f"""
SELECT r.id AS rater_id, r.votes_done, {WELCOME} AS welcome, r.admitted, (s.consent = '' OR r.consented_at IS NOT NULL) AS consented,
       r.order_a, r.order_b,
       {STUDY_COLUMNS},
       a.id AS held_id, a.token, a."left", a.leased_until < %(now)s AS lapsed, i.token_a, i.token_b, p.text AS prompt, p.image
FROM annotation_rater r
JOIN annotation_study s ON s.id = r.study_id
LEFT JOIN annotation_assignment a ON a.rater_id = r.id AND a.status = '{Assignment.Status.ACTIVE.value}'
LEFT JOIN annotation_item i ON i.id = a.item_id
LEFT JOIN annotation_prompt p ON p.id = i.prompt_id
WHERE r.id = %(rater)s AND s.slug = %(slug)s
"""  # noqa: S608 - constant SQL; the values are bound parameters


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


@dataclass(frozen=True)
class _RaterState:
    """A row of RATER_SQL."""

    votes_done: int
    welcome: bool
    admitted: bool
    consented: bool
    order: Order
    study: StudyRules
    held_id: int | None
    held: Shown | None
    lapsed: bool

    @classmethod
    def from_row(cls, row: Row) -> _RaterState:
        held = Shown.from_row(row) if row["held_id"] is not None else None
        return cls(
            votes_done=row["votes_done"], welcome=bool(row["welcome"]), admitted=bool(row["admitted"]),
            consented=bool(row["consented"]), order=(row["order_a"], row["order_b"]), study=StudyRules.from_row(row),
            held_id=row["held_id"], held=held, lapsed=bool(row["lapsed"]),
        )


def assignment_next(*, rater_id: int, slug: str) -> Offer | None:
    """The rater's live assignment, or a newly claimed item, or none when nothing is left for them;
    None when study `slug` has no such rater.

    Only an open study hands out items, and only to a welcome rater (rules.WELCOME). The new item is
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


def _rater_state(rater_id: int, slug: str, now: datetime) -> _RaterState | None:
    rows, _ = run(RATER_SQL, {"rater": rater_id, "slug": slug, "now": db_value(None, now)})
    return _RaterState.from_row(rows[0]) if rows else None


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
