"""Attention items: a good video against a frozen copy of itself, so the right answer is known.

Each rater's passes and failures are counted when they vote (annotation/rating/voting.py); raters whose
pass rate falls below the study's threshold are left out of the analysis (annotation/rating/analysed.py).
"""

from __future__ import annotations

import random

from django.db import transaction
from django.db.models import F

from annotation.models import Item, Study
from annotation.raters.order import PRIME
from generation.matching.encodes import frozen_copy
from generation.models import MatchedVideo
from juice.queue import enqueue_after_commit


class AttentionError(ValueError):
    """Attention items cannot be built as asked; the message says why."""


def _bases(study: Study, count: int) -> list[Item]:
    """Up to `count` ready, ordinary items of the study, at random, to build attention items from."""
    return list(
        Item.objects.select_related("matched_a", "matched_b")
        .filter(study=study, status=Item.Status.READY, is_attention=False, matched_a__isnull=False)
        .order_by("?")[:count]
    )


def _attention_item(study: Study, base: Item, frozen: MatchedVideo) -> Item:
    """The good side is one side of the base item, the other its frozen copy; which is drawn at random."""
    good_side = random.choice("ab")
    good = base.matched_a
    return Item.objects.create(
        study=study, pair=base.pair, prompt=base.prompt, video_a=base.video_a, video_b=base.video_b,
        matched_a=good if good_side == "a" else frozen, matched_b=frozen if good_side == "a" else good,
        status=Item.Status.READY, is_attention=True, expected=good_side,
        raters_needed=base.raters_needed, matching_params={"attention": "frozen", "good": good_side},
        shuffle=random.randrange(PRIME),  # drawn like the good side: attention items are placed at random
    )


def attention_items_request(*, study: Study, count: int) -> None:
    """Ask for `count` more attention items; the media queue builds them (ffmpeg) after commit."""
    if count < 1:
        raise AttentionError("add at least one attention item")
    available = Item.objects.filter(study=study, status=Item.Status.READY, is_attention=False).count()
    wanted = study.attention_items + count
    if wanted > available:
        raise AttentionError(f"only {available} ready items to build attention items from; {wanted} asked")
    Study.objects.filter(pk=study.pk).update(attention_items=F("attention_items") + count)
    from annotation.tasks import attention_items_make

    enqueue_after_commit(lambda: attention_items_make.delay(study.pk))


def attention_items_ensure(*, study: Study) -> list[Item]:
    """Top the study up to its requested number of attention items; safe to call again.

    The matching task calls it once the items are ready, before opening the study. The frozen
    copies are encoded first, outside any lock; then, under the study's row lock, only what is
    still missing is added, so a re-delivered task cannot add the same items twice.
    """
    missing = study.attention_items - Item.objects.filter(study=study, is_attention=True).count()
    if missing <= 0:
        return []
    bases = _bases(study, missing)
    frozen = {base.pk: frozen_copy(matched=base.matched_a) for base in bases}
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        missing = study.attention_items - Item.objects.filter(study=study, is_attention=True).count()
        if len(bases) < missing:
            raise AttentionError(f"only {len(bases)} ready items to build attention items from; {missing} asked")
        return [_attention_item(study, base, frozen[base.pk]) for base in bases[: max(missing, 0)]]
