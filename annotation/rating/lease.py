"""The lease: an item's `claimed` counts its live leases plus its votes. A claim takes a lease
(`lease_take`, in the claim's transaction); a lease ends when its rater votes, reports a problem
(`lease_release`), or lets it run out (`leases_expire`, swept now and then by the claims themselves and
by celery beat), and then its claim goes back to the item's pool.

The check constraint `claimed <= raters_needed` caps what the takes may count.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Assignment, Item
from annotation.rating.prepared import Row, run

# Expire at most this many leases per sweep, so one claim never does unbounded work.
EXPIRE_BATCH = 500
# Seconds between two lazy sweeps of a study in one process; leases are minutes long.
EXPIRE_INTERVAL = 2

# The claimed item's count goes up (the check constraint caps it at raters_needed); it answers with
# what the rating page shows of the item.
TAKE_SQL = """
UPDATE annotation_item SET claimed = claimed + 1 WHERE id = %(item)s
RETURNING token_a, token_b,
    (SELECT text FROM annotation_prompt WHERE id = prompt_id) AS prompt, (SELECT image FROM annotation_prompt WHERE id = prompt_id) AS image
"""


def lease_take(*, item_id: int) -> Row:
    """Count a new claim on the item, in the caller's transaction (the claim's); returns the item's
    `token_a`, `token_b`, `prompt` and `image`."""
    (row,), _ = run(TAKE_SQL, {"item": item_id})
    return row


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
