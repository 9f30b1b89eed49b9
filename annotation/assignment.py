"""Handing items to raters: the claim, the lease, and its expiry.

An item's `claimed` counts its live leases plus its votes. A claim is one transaction that locks a
candidate item (`skip_locked`, so concurrent raters take different rows instead of queueing),
bumps `claimed` and creates the assignment. The check constraint `claimed <= raters_needed` and
the unique (rater, item) constraint make overfilling an item or showing it twice to one rater
impossible, whatever the interleaving; on SQLite the same code is correct because its
transactions are serialized.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Assignment, Item, Rater, Study

# Expire at most this many leases per sweep, so one claim never does unbounded work.
EXPIRE_BATCH = 500
# Seconds between two lazy sweeps of a study in one process; leases are minutes long.
EXPIRE_INTERVAL = 2


def leases_expire(*, study: Study | None = None, now: datetime | None = None) -> int:
    """Return the claims of assignments whose lease ran out to the pool; returns how many expired.

    Rows another transaction is voting on are skipped (`skip_locked`): that vote decides them.
    """
    now = now or timezone.now()
    with transaction.atomic():
        stale = Assignment.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=Assignment.Status.ACTIVE, leased_until__lt=now
        )
        if study is not None:
            stale = stale.filter(item__study=study)
        rows = list(stale.values_list("pk", "item_id")[:EXPIRE_BATCH])
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(status=Assignment.Status.EXPIRED)
        for item_id, count in Counter(item_id for _, item_id in rows).items():
            Item.objects.filter(pk=item_id).update(claimed=F("claimed") - count)
    return len(rows)


def assignment_next(*, rater: Rater) -> Assignment | None:
    """The rater's live assignment, or a newly claimed item, or None when nothing is left for them.

    Only an open study hands out items (`rater.study` as loaded by the caller). The new item is one
    this rater has not seen, that still needs raters, with the fewest claims.
    """
    study = rater.study
    now = timezone.now()
    # Lazy expiry, at most once per interval per process (every claim would otherwise pay for it),
    # and always before telling a rater that nothing is left.
    swept = cache.add(f"leases-expire:{study.pk}", 1, timeout=EXPIRE_INTERVAL)
    if swept:
        leases_expire(study=study, now=now)
    try:
        return _claim(rater, now, swept)
    except IntegrityError:
        # The same rater asked twice at once (two tabs): the other call's claim committed first and
        # the one-live-assignment-per-rater constraint refused ours, so the other's is the answer.
        return _claim(rater, now, swept=True)


def _claim(rater: Rater, now: datetime, swept: bool) -> Assignment | None:
    study = rater.study
    with transaction.atomic():
        held = Assignment.objects.select_related("item__prompt").filter(rater=rater, status=Assignment.Status.ACTIVE).first()
        if held is not None:
            if held.leased_until >= now:
                return held
            # The rater's own lease ran out before a sweep saw it: it would block a new one. The
            # status filter makes this a compare-and-swap, so the claim is returned only once.
            if Assignment.objects.filter(pk=held.pk, status=Assignment.Status.ACTIVE).update(status=Assignment.Status.EXPIRED):
                Item.objects.filter(pk=held.item_id).update(claimed=F("claimed") - 1)
        if study.status != Study.Status.OPEN:
            return None
        item = _candidate(rater)
        if item is None and not swept and leases_expire(study=study, now=now):
            item = _candidate(rater)
        if item is None:
            return None
        Item.objects.filter(pk=item.pk).update(claimed=F("claimed") + 1)
        return Assignment.objects.create(
            rater=rater,
            item=item,
            left=random.choice([Assignment.Left.A, Assignment.Left.B]),
            leased_until=now + timedelta(seconds=study.lease_seconds),
        )


def _candidate(rater: Rater) -> Item | None:
    """Lock the open item with the fewest claims that this rater has not seen."""
    seen = Assignment.objects.filter(rater=rater).values("item_id")
    # skip_locked: concurrent raters step over each other's candidate rows instead of queueing.
    return (
        Item.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("prompt")
        .filter(study_id=rater.study_id, status=Item.Status.READY, claimed__lt=F("raters_needed"))
        .exclude(pk__in=seen)
        .order_by("claimed", "id")
        .first()
    )
