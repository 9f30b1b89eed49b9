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


def attention_items_add(*, study: Study, count: int) -> list[Item]:
    """Add `count` attention items, each built from a different ready item of the study.

    The good video is one side of the base item; the other side is its frozen copy; the side of
    the good one is drawn at random and stored as `expected`.
    """
    if count < 0:
        raise AttentionError("the number of attention items cannot be negative")
    bases = list(
        Item.objects.select_related("matched_a", "matched_b")
        .filter(study=study, status=Item.Status.READY, is_attention=False, matched_a__isnull=False)
        .order_by("?")[:count]
    )
    if len(bases) < count:
        raise AttentionError(f"only {len(bases)} ready items to build attention items from; {count} asked")
    made = []
    for base in bases:
        good = base.matched_a
        frozen_name = _frozen_copy(good)
        good_side = random.choice("ab")
        with transaction.atomic():
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
            made.append(
                Item.objects.create(
                    study=study, pair=base.pair, prompt=base.prompt, video_a=base.video_a, video_b=base.video_b,
                    matched_a=good if good_side == "a" else frozen, matched_b=frozen if good_side == "a" else good,
                    status=Item.Status.READY, is_attention=True, expected=good_side,
                    raters_needed=base.raters_needed, matching_params={"attention": "frozen", "good": good_side},
                )
            )
    return made


def attention_items_ensure(*, study: Study) -> list[Item]:
    """Top the study up to its requested number of attention items; safe to call again.

    The matching task calls it once the items are ready, before opening the study. The study row
    is locked so that a re-delivered task cannot add the same items twice.
    """
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        have = Item.objects.filter(study=study, is_attention=True).count()
        return attention_items_add(study=study, count=max(study.attention_items - have, 0))


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
