"""The votes CSV (CONTRACT.md): one row per (rating, question), the input of the analysis package."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from analysis import COLUMNS, spreadsheet_safe
from annotation.models import Study, Vote
from annotation.studies.attention import raters_excluded


def votes_rows(*, study: Study, include_excluded: bool = False) -> Iterator[tuple]:
    """The study's votes as CSV rows, attention items left out; `choice` and `left` name systems."""
    excluded = set() if include_excluded else {r.pk for r in raters_excluded(study=study)}
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
    """Write the votes CSV of `study` to `out`; returns the number of rows.

    A text cell a spreadsheet would run as a formula (a prompt or worker id starting with `=`, say)
    gets a leading apostrophe, which `analysis.read_votes` removes again (CONTRACT.md, "Additions").
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in votes_rows(study=study, include_excluded=include_excluded):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        count += 1
    return count
