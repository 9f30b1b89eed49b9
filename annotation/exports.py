"""The votes CSV (CONTRACT.md): one row per (rating, question), the input of the analysis package."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from django.db.models import Q

from annotation.models import Rater, Study, Vote

VOTES_HEADER = (
    "study", "item", "prompt_id", "prompt", "category", "system_a", "system_b",
    "question", "rater", "choice", "left", "reasons", "watch_ms", "created_at",
)


def raters_excluded(*, study: Study) -> set[int]:
    """Raters whose attention pass rate is under the study's threshold (none without a threshold)."""
    if study.attention_threshold is None:
        return set()
    excluded = set()
    for rater in Rater.objects.filter(study=study).filter(Q(attention_passed__gt=0) | Q(attention_failed__gt=0)):
        rate = rater.attention_passed / (rater.attention_passed + rater.attention_failed)
        if rate < study.attention_threshold:
            excluded.add(rater.pk)
    return excluded


def votes_rows(*, study: Study, include_excluded: bool = False) -> Iterator[tuple]:
    """The study's votes as CSV rows, attention items left out; `choice` and `left` name systems."""
    excluded = set() if include_excluded else raters_excluded(study=study)
    votes = (
        Vote.objects.filter(assignment__item__study=study, assignment__item__is_attention=False)
        .exclude(assignment__rater__in=excluded)
        .order_by("assignment__item_id", "question", "assignment__rater__worker_id")
        .values_list(
            "assignment__item_id", "assignment__item__prompt__key", "assignment__item__prompt__text",
            "assignment__item__prompt__category", "assignment__item__pair__system_a__name",
            "assignment__item__pair__system_b__name", "question", "assignment__rater__worker_id",
            "choice", "assignment__left", "reasons", "watch_ms", "created_at",
        )
    )
    for item, key, text, category, a, b, question, rater, choice, left, reasons, watch_ms, created in votes.iterator(chunk_size=5000):
        names = {"a": a, "b": b, "tie": "tie"}
        yield (
            study.name, item, key, text, category, a, b, question, rater,
            names[choice], names[left], ";".join(reasons), watch_ms, created.isoformat(),
        )


def votes_write(*, study: Study, out: TextIO, include_excluded: bool = False) -> int:
    """Write the votes CSV of `study` to `out`; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(VOTES_HEADER)
    count = 0
    for row in votes_rows(study=study, include_excluded=include_excluded):
        writer.writerow(row)
        count += 1
    return count
