"""A study's matched pairs: generation makes each side's encode; here each item follows its two
encodes (pending, then ready or failed) and the study opens once every item is ready or dropped.

The flow: study_create queues `match_study` after commit (from a web request, as background work); it
attaches an encode to both sides of each pending item (content-addressed, so encodes are shared between
items and studies) and queues each encode still to do, with `items_refresh` linked after it. Every step
is safe to run again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotation.models import Item, Study
from annotation.studies.attention import AttentionError, attention_items_ensure
from generation.matching.encodes import encodes_to_do, matched_video_get_or_create
from generation.models import MatchedVideo
from juice.background import background_run
from juice.queue import enqueue_after_commit, queue_drained

logger = logging.getLogger(__name__)


def matching_enqueue(*, study_id: int, background: bool = False) -> None:
    """Match the study's pending items on the media queue, once the caller's transaction commits;
    `background`: as background work (juice.background; in-process, in a thread of the server), so that
    a web request need not wait for it."""
    from annotation.tasks import match_study, match_study_background

    if background:
        background_run(match_study_background, study_id, key=f"match:{study_id}")
    else:
        enqueue_after_commit(lambda: match_study.delay(study_id))


def study_match(*, study_id: int) -> int:
    """Attach a MatchedVideo to both sides of each pending item and queue the encodes still to do;
    returns how many were queued. Encodes reused from earlier studies are done already: their items
    are ready at once."""
    todo = _attach(study_id)
    encodes_send(todo)
    items_refresh(study_id=study_id)
    return len(todo)


def encodes_send(matched_ids: list[int]) -> None:
    """Queue these encodes, each with the refresh of its items linked after it; they are queued from now."""
    from annotation.tasks import items_refresh_after
    from generation.tasks import match_video

    MatchedVideo.objects.filter(pk__in=matched_ids).update(queued_at=timezone.now())
    for matched_id in matched_ids:
        enqueue_after_commit(lambda m=matched_id: match_video.apply_async((m,), link=items_refresh_after.si(m)))


@transaction.atomic
def _attach(study_id: int) -> list[int]:
    """Attach an encode to both sides of the study's pending items that lack one; returns the encodes
    its pending items still need made."""
    items = Item.objects.filter(study_id=study_id, status=Item.Status.PENDING).select_related("video_a", "video_b")
    for item in items.filter(Q(matched_a=None) | Q(matched_b=None)):
        item.matched_a = matched_video_get_or_create(source=item.video_a, spec=item.matching_params["a"])
        item.matched_b = matched_video_get_or_create(source=item.video_b, spec=item.matching_params["b"])
        item.save(update_fields=["matched_a", "matched_b"])
    return encodes_to_do({m for pair in items.values_list("matched_a", "matched_b") for m in pair})


def encodes_waiting(*, study_id: int | None = None, now: datetime | None = None) -> list[int]:
    """The encodes that pending items of preparing studies (or of one study) wait for: queued longer
    than JUICE_LOST_SECONDS ago and still not started by any worker, or stuck (their worker stopped
    proving itself alive JUICE_STALE_SECONDS ago: killed mid-encode)."""
    return sorted(_waiting(study_id=study_id, now=now, lost=True))


def _waiting(*, study_id: int | None, now: datetime | None, lost: bool, sent_before: datetime | None = None) -> set[int]:
    """encodes_waiting's encodes: the stuck ones (and sent again before `sent_before`, when given), and
    with `lost` those queued too long."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JUICE_LOST_SECONDS)
    items = Item.objects.filter(status=Item.Status.PENDING, study__status=Study.Status.PREPARING)
    if study_id is not None:
        items = items.filter(study_id=study_id)
    needed = {m for pair in items.values_list("matched_a", "matched_b") for m in pair if m is not None}
    # encodes_to_do keeps only the running encodes whose worker was lost.
    stuck = Q(status=MatchedVideo.Status.RUNNING)
    if sent_before is not None:
        stuck &= Q(queued_at__lt=sent_before) | Q(queued_at=None)
    waiting = stuck | (Q(queued_at__lt=cutoff) | Q(queued_at=None, created_at__lt=cutoff) if lost else Q(pk__in=[]))
    return set(encodes_to_do(needed)) & set(MatchedVideo.objects.filter(waiting, pk__in=needed).values_list("pk", flat=True))


def encodes_resend(*, study_id: int | None = None, lost: bool = True, again_after: timedelta | None = None) -> int:
    """Send again what a preparing study's items wait on too long (all preparing studies, or one):
    the encodes of items that never got theirs (a lost `match_study`), those stuck on a lost worker,
    and with `lost` those queued longer than JUICE_LOST_SECONDS ago that no worker started
    (encodes_waiting); returns how many were sent. A researcher's Retry on the matching page sends
    them all for one study at any time. The reconciler (studies_refresh) sends the stuck ones every
    time, once per `again_after` each (their message was taken by the worker that died, so nothing
    else will), and the queued ones only when their messages were lost (nothing waits in the media
    queue). Safe to repeat: an encode is claimed by compare-and-swap, so one delivered twice is made once."""
    preparing = Study.objects.filter(status=Study.Status.PREPARING)
    if study_id is not None:
        preparing = preparing.filter(pk=study_id)
    unmatched = Item.objects.filter(status=Item.Status.PENDING).filter(Q(matched_a=None) | Q(matched_b=None))
    attached = [m for sid in preparing.filter(Exists(unmatched.filter(study=OuterRef("pk")))).values_list("pk", flat=True)
                for m in _attach(sid)] if lost else []
    now = timezone.now()
    sent_before = now - again_after if again_after is not None else None
    resend = sorted(set(attached) | _waiting(study_id=study_id, now=now, lost=lost, sent_before=sent_before))
    encodes_send(resend)
    return len(resend)


def items_refresh(*, matched_id: int | None = None, study_id: int | None = None) -> None:
    """Bring pending items (of one encode, or of one study) up to date with their encodes, then open
    the studies that are ready.

    Each statement commits on its own (no surrounding transaction) so that of two encodes that
    finish together, the later one to commit sees both: no study is left waiting forever.
    """
    scope = Q(study_id=study_id) if study_id is not None else Q(matched_a_id=matched_id) | Q(matched_b_id=matched_id)
    pending = Item.objects.filter(scope, status=Item.Status.PENDING)
    failed = pending.filter(Q(matched_a__status=MatchedVideo.Status.FAILED) | Q(matched_b__status=MatchedVideo.Status.FAILED))
    for item in failed.select_related("matched_a", "matched_b"):
        errors = [m.error for m in (item.matched_a, item.matched_b) if m.status == MatchedVideo.Status.FAILED]
        Item.objects.filter(pk=item.pk, status=Item.Status.PENDING).update(status=Item.Status.FAILED, error="\n".join(errors))
    pending.filter(matched_a__status=MatchedVideo.Status.READY, matched_b__status=MatchedVideo.Status.READY).update(
        status=Item.Status.READY, error=""
    )
    for sid in set(Item.objects.filter(scope).values_list("study_id", flat=True)):
        study_open_if_ready(study_id=sid)


def studies_refresh() -> int:
    """items_refresh for every study still preparing; returns how many were opened. A backstop for an
    encode whose follow-up never ran, for encodes stuck on a killed worker (sent again at once), and
    for encodes whose message was lost (sent again once nothing but beat's own tasks waits in the
    media queue, where this runs): celery beat calls it every minute."""
    encodes_resend(lost=queue_drained("media"), again_after=timedelta(seconds=settings.JUICE_STALE_SECONDS))
    preparing = list(Study.objects.filter(status=Study.Status.PREPARING).values_list("pk", flat=True))
    for study_id in preparing:
        items_refresh(study_id=study_id)
    return Study.objects.filter(pk__in=preparing, status=Study.Status.OPEN).count()


def study_open_if_ready(*, study_id: int) -> bool:
    """Open a preparing study when all its items are ready or dropped; a single conditional UPDATE.

    Attention items the study asked for are mixed in first (from its ready items), so that no
    rater starts before they exist; building them is safe to repeat (the study row is locked).
    """
    items = Item.objects.filter(study=OuterRef("pk"))
    ready = (
        Study.objects.filter(pk=study_id, status=Study.Status.PREPARING)
        .filter(Exists(items.filter(status=Item.Status.READY)))
        .exclude(Exists(items.exclude(status__in=[Item.Status.READY, Item.Status.DROPPED])))
    )
    study = ready.first()
    if study is None:
        return False
    if study.attention_items:
        try:
            attention_items_ensure(study=study)
        except AttentionError as exc:
            logger.warning("study %s opens without all its attention items: %s", study.pk, exc)
    return bool(ready.update(status=Study.Status.OPEN))
