"""Attention items: a good video against a frozen copy of itself, so the right answer is known.

Each rater's passes and failures are counted when they vote (see voting.py); raters whose pass rate
falls below the study's threshold are left out of the analysis.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import ffmpeg
from django.conf import settings
from django.db import transaction
from django.db.models import F

from annotation.models import Item, Rater, Study
from generation.models import MatchedVideo
from generation.probe import probe_video


class AttentionError(ValueError):
    """Attention items cannot be built as asked; the message says why."""


def _frozen_copy(matched: MatchedVideo) -> str:
    """Encode the first frame of `matched` held for its whole length; returns the file's media-relative name."""
    source = Path(matched.file.path)
    info = probe_video(source, decode=False)
    name = f"matched/attention/frozen_{matched.pk}.mp4"
    target = Path(settings.MEDIA_ROOT) / name
    if target.exists():
        return name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    (
        ffmpeg.input(str(source))
        .output(
            str(partial), vf="trim=end_frame=1,tpad=stop_mode=clone:stop=-1", vframes=info.frame_count,
            vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", movflags="+faststart", an=None, f="mp4",
        )
        .overwrite_output()
        .run(quiet=True)
    )
    partial.replace(target)
    return name


def _bases(study: Study, count: int) -> list[Item]:
    """Up to `count` ready, ordinary items of the study, at random, to build attention items from."""
    return list(
        Item.objects.select_related("matched_a", "matched_b")
        .filter(study=study, status=Item.Status.READY, is_attention=False, matched_a__isnull=False)
        .order_by("?")[:count]
    )


def _attention_item(study: Study, base: Item, frozen_name: str) -> Item:
    """The good side is one side of the base item, the other its frozen copy; which is drawn at random."""
    good = base.matched_a
    good_side = random.choice("ab")
    frozen, _ = MatchedVideo.objects.get_or_create(
        source=base.video_b if good_side == "a" else base.video_a,
        target_key=hashlib.sha256(f"attention-frozen:{good.pk}".encode()).hexdigest(),
        defaults={
            "target": {"attention": "frozen first frame", "of_matched": good.pk},
            "file": frozen_name, "status": MatchedVideo.Status.READY,
            "width": good.width, "height": good.height, "fps": good.fps,
            "frame_count": good.frame_count, "duration": good.duration,
        },
    )
    return Item.objects.create(
        study=study, pair=base.pair, prompt=base.prompt, video_a=base.video_a, video_b=base.video_b,
        matched_a=good if good_side == "a" else frozen, matched_b=frozen if good_side == "a" else good,
        status=Item.Status.READY, is_attention=True, expected=good_side,
        raters_needed=base.raters_needed, matching_params={"attention": "frozen", "good": good_side},
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

    transaction.on_commit(lambda: attention_items_make.delay(study.pk))


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
    frozen_names = {base.pk: _frozen_copy(base.matched_a) for base in bases}
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        missing = study.attention_items - Item.objects.filter(study=study, is_attention=True).count()
        if len(bases) < missing:
            raise AttentionError(f"only {len(bases)} ready items to build attention items from; {missing} asked")
        return [_attention_item(study, base, frozen_names[base.pk]) for base in bases[: max(missing, 0)]]


def attention_pass_rate(rater: Rater) -> float | None:
    seen = rater.attention_passed + rater.attention_failed
    return rater.attention_passed / seen if seen else None


def rater_excluded(*, rater: Rater, study: Study) -> bool:
    """True when the rater's attention pass rate is below the study's threshold (no attention items seen: kept)."""
    rate = attention_pass_rate(rater)
    return study.attention_threshold is not None and rate is not None and rate < study.attention_threshold


def raters_excluded(*, study: Study) -> list[Rater]:
    """The raters to leave out of the analysis."""
    return [r for r in study.raters.all() if rater_excluded(rater=r, study=study)]
