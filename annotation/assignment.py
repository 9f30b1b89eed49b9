"""Handing items to raters: the claim, the lease, and its expiry.

An item's `claimed` counts its live leases plus its votes. A claim is atomic: it locks a candidate
item (`skip_locked`, so concurrent raters take different rows instead of queueing), bumps
`claimed` and creates the assignment. On PostgreSQL that is one prepared statement (the hot path
of every rating); elsewhere the same steps run through the ORM in one transaction, which SQLite
serializes. The check constraint `claimed <= raters_needed`, the unique (rater, item) constraint
and the one-live-assignment-per-rater constraint make overfilling an item, showing it twice to
one rater or leasing a rater two items impossible, whatever the interleaving.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Assignment, Item, Prompt, Rater, Study, new_token
from annotation.rows import STUDY_COLUMNS, STUDY_WIDTH, loaded, run, study_from_row

# Expire at most this many leases per sweep, so one claim never does unbounded work.
EXPIRE_BATCH = 500
# Seconds between two lazy sweeps of a study in one process; leases are minutes long.
EXPIRE_INTERVAL = 2


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
        rows = list(stale.values_list("pk", "item_id")[:EXPIRE_BATCH])
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(status=Assignment.Status.EXPIRED)
        for item_id, count in Counter(item_id for _, item_id in rows).items():
            Item.objects.filter(pk=item_id).update(claimed=F("claimed") - count)
    return len(rows)


MISSING = object()

# Whether rater `r` may be handed new items: a crowd rater always; an account's while the account is
# active and invited to the study (a withdrawn invitation lets it finish the item it holds, and no
# more). Decided by the rater's source, not its user: a deleted account's rater has no user left.
WELCOME_SQL = f"""(r.source <> '{Rater.Source.INVITED.value}' OR EXISTS (
    SELECT 1 FROM {Study.invited.through._meta.db_table} v JOIN {get_user_model()._meta.db_table} u ON u.id = v.user_id
    WHERE v.study_id = r.study_id AND v.user_id = r.user_id AND u.is_active))"""  # noqa: S608 - table names


def rater_welcome(rater: Rater) -> bool:
    """WELCOME_SQL for a rater: whether it may claim new items. Read once per rater object."""
    if "welcome" not in rater.__dict__:
        rater.welcome = rater.source != Rater.Source.INVITED or (
            rater.user_id is not None and rater.study.invited.filter(pk=rater.user_id, is_active=True).exists()
        )
    return rater.welcome

# The rater of a study with its study, its votes so far and its live assignment (with the item's
# media tokens and the prompt): everything `next` reads. Without a live assignment, and when the
# study is open, the same statement claims the item _take would (its claim on PostgreSQL) and returns it
# instead: one round trip for the whole of `next`. Every part sees the rows as they were when the
# statement began, so `held` is the live assignment from before and `made` the one just created.
NEXT_SQL = f"""
WITH rater AS (
    SELECT r.study_id, s.lease_seconds FROM annotation_rater r JOIN annotation_study s ON s.id = r.study_id
    WHERE r.id = %(rater)s AND s.slug = %(slug)s AND s.status = '{Study.Status.OPEN.value}' AND {WELCOME_SQL}
), held AS (
    SELECT a.id, a.token, a.item_id, a."left", a.leased_until, a.created_at FROM annotation_assignment a
    WHERE a.rater_id = %(rater)s AND a.status = '{Assignment.Status.ACTIVE.value}'
), candidate AS (
    SELECT i.id FROM annotation_item i
    WHERE i.study_id = (SELECT study_id FROM rater) AND NOT EXISTS (SELECT 1 FROM held)
      AND i.status = '{Item.Status.READY.value}' AND i.claimed < i.raters_needed
      AND NOT EXISTS (SELECT 1 FROM annotation_assignment seen WHERE seen.rater_id = %(rater)s AND seen.item_id = i.id)
    ORDER BY i.claimed, i.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), taken AS (
    UPDATE annotation_item i SET claimed = i.claimed + 1 FROM candidate WHERE i.id = candidate.id
    RETURNING i.id
), made AS (
    INSERT INTO annotation_assignment (token, rater_id, item_id, "left", status, leased_until, created_at)
    SELECT %(token)s, %(rater)s, taken.id, %(left)s, '{Assignment.Status.ACTIVE.value}',
           %(now)s + make_interval(secs => rater.lease_seconds), %(now)s
    FROM taken, rater
    RETURNING id, token, item_id, "left", leased_until, created_at
)
SELECT r.id, r.worker_id, {STUDY_COLUMNS}, r.votes_done,
       a.id, a.token, a.item_id, a."left", a.leased_until, a.created_at, i.token_a, i.token_b, i.prompt_id, p.text, p.image,
       a.made, {WELCOME_SQL}
FROM annotation_rater r
JOIN annotation_study s ON s.id = r.study_id
LEFT JOIN (SELECT *, false AS made FROM held UNION ALL SELECT *, true FROM made) a ON true
LEFT JOIN annotation_item i ON i.id = a.item_id
LEFT JOIN annotation_prompt p ON p.id = i.prompt_id
WHERE r.id = %(rater)s AND s.slug = %(slug)s
"""  # noqa: S608 - constant SQL; the values are bound parameters


def next_for(*, rater_id: int, slug: str) -> tuple[Rater | None, Assignment | None]:
    """`next` for rater `rater_id` of study `slug`: (the rater, with its study and `votes_done`; its
    live or newly claimed assignment, or None when nothing is left for it).
    The rater is None when study `slug` has no such rater.

    On PostgreSQL this is one statement (NEXT_SQL) unless the rater holds a lease that ran out.
    """
    if connection.vendor != "postgresql":
        rater = Rater.objects.select_related("study").filter(pk=rater_id, study__slug=slug).first()
        return rater, (assignment_next(rater=rater) if rater is not None else None)
    now = timezone.now()
    swept = _sweep_due(slug)
    if swept:
        leases_expire(study_slug=slug, now=now)
    try:
        rater, assignment, claimed = _next_postgresql(rater_id, slug, now)
    except IntegrityError:
        # The same rater asked twice at once (two tabs): the other call's claim committed first and
        # the one-live-assignment-per-rater constraint refused ours; asked again, it is the live one.
        rater, assignment, claimed = _next_postgresql(rater_id, slug, now)
    if rater is None or claimed:
        return rater, assignment
    try:
        if assignment is not None or rater.study.status != Study.Status.OPEN:
            # A live assignment, which _claim hands back or, when its lease ran out, lets go of.
            rater.live_assignment = assignment
            return rater, _claim(rater, now, swept)
        # The study is open and the statement found nothing to claim: expired leases may free some.
        if rater.welcome and not swept and leases_expire(study_slug=slug, now=now):
            return rater, _take_postgresql(rater, now)
        return rater, None
    except IntegrityError:
        # As above, on these paths: the other call's claim is the answer.
        return rater, _claim(rater, now, swept=True)


def _next_postgresql(rater_id: int, slug: str, now: datetime) -> tuple[Rater | None, Assignment | None, bool]:
    """NEXT_SQL: (rater, live or claimed assignment, whether the statement claimed it)."""
    params = {"rater": rater_id, "slug": slug, "token": new_token(), "left": _placement(), "now": now}
    rows = run(NEXT_SQL, params, writes=True)
    if not rows:
        return None, None, False
    row = rows[0]
    end = 2 + STUDY_WIDTH
    rater = loaded(Rater, id=row[0], study_id=row[2], worker_id=row[1], votes_done=row[end])
    rater.study = study_from_row(row[2:end])
    assignment_id, made, rater.welcome = row[end + 1], row[-2], row[-1]
    assignment = None if assignment_id is None else _assignment(rater, *row[end + 1:-2])
    return rater, assignment, bool(made)


def _sweep_due(slug: str) -> bool:
    """Whether this call sweeps the study's expired leases before claiming: lazy expiry, at most once
    per interval per process (every claim would otherwise pay for it). A claim that finds nothing
    sweeps anyway before telling a rater that nothing is left."""
    return cache.add(f"leases-expire:{slug}", 1, timeout=EXPIRE_INTERVAL)


def assignment_next(*, rater: Rater) -> Assignment | None:
    """The rater's live assignment, or a newly claimed item, or None when nothing is left for them.

    Only an open study hands out items (`rater.study` as loaded by the caller). The new item is one
    this rater has not seen, that still needs raters, with the fewest claims.
    """
    study = rater.study
    now = timezone.now()
    swept = _sweep_due(study.slug)
    if swept:
        leases_expire(study_slug=study.slug, now=now)
    try:
        return _claim(rater, now, swept)
    except IntegrityError:
        # The same rater asked twice at once (two tabs): the other call's claim committed first and
        # the one-live-assignment-per-rater constraint refused ours, so the other's is the answer.
        return _claim(rater, now, swept=True)


def _claim(rater: Rater, now: datetime, swept: bool) -> Assignment | None:
    study = rater.study
    # rater_for_next may have loaded the live assignment with the rater; a retry asks again.
    held = rater.__dict__.pop("live_assignment", MISSING)
    if held is MISSING:
        held = Assignment.objects.select_related("item__prompt").filter(rater=rater, status=Assignment.Status.ACTIVE).first()
    if held is not None:
        # A closed study takes no votes: its live assignment is let go, or its rater would be handed
        # an item they can never submit instead of the completion code.
        if held.leased_until >= now and study.status != Study.Status.CLOSED:
            return held
        # The rater's own lease ran out before a sweep saw it: it would block a new one. The
        # status filter makes this a compare-and-swap, so the claim is returned only once.
        with transaction.atomic():
            if Assignment.objects.filter(pk=held.pk, status=Assignment.Status.ACTIVE).update(status=Assignment.Status.EXPIRED):
                Item.objects.filter(pk=held.item_id).update(claimed=F("claimed") - 1)
    if study.status != Study.Status.OPEN or not rater_welcome(rater):
        return None
    take = _take_postgresql if connection.vendor == "postgresql" else _take
    assignment = take(rater, now)
    if assignment is None and not swept and leases_expire(study_slug=study.slug, now=now):
        assignment = take(rater, now)
    return assignment


def _take(rater: Rater, now: datetime) -> Assignment | None:
    """Claim the open item with the fewest claims that this rater has not seen (any database)."""
    with transaction.atomic():
        seen = Assignment.objects.filter(rater=rater).values("item_id")
        # skip_locked: concurrent raters step over each other's candidate rows instead of queueing.
        item = (
            Item.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("prompt")
            .filter(study_id=rater.study_id, status=Item.Status.READY, claimed__lt=F("raters_needed"))
            .exclude(pk__in=seen)
            .order_by("claimed", "id")
            .first()
        )
        if item is None:
            return None
        Item.objects.filter(pk=item.pk).update(claimed=F("claimed") + 1)
        until = now + timedelta(seconds=rater.study.lease_seconds)
        return Assignment.objects.create(rater=rater, item=item, left=_placement(), leased_until=until)


def _placement() -> str:
    return random.choice([Assignment.Left.A, Assignment.Left.B])


def _take_postgresql(rater: Rater, now: datetime) -> Assignment | None:
    """_take on PostgreSQL: NEXT_SQL, whose claim is that of _take in one statement. Should the
    rater hold a live assignment by now (a second tab claimed meanwhile), that is the answer."""
    _, assignment, _ = _next_postgresql(rater.pk, rater.study.slug, now)
    if assignment is not None:
        assignment.rater = rater
    return assignment


def _assignment(rater: Rater, assignment_id: int, token: str, item_id: int, left: str, leased_until: datetime,
                created_at: datetime, token_a: str, token_b: str, prompt_id: int, text: str, image: str) -> Assignment:
    """A live assignment with what the rating page shows of its item, from a row of raw SQL."""
    item = loaded(Item, id=item_id, token_a=token_a, token_b=token_b, prompt_id=prompt_id)
    item.prompt = loaded(Prompt, id=prompt_id, text=text, image=image)
    assignment = loaded(
        Assignment, id=assignment_id, token=token, rater_id=rater.pk, item_id=item_id, left=left,
        status=Assignment.Status.ACTIVE, leased_until=leased_until, created_at=created_at, voted_at=None,
    )
    assignment.rater, assignment.item = rater, item
    return assignment
