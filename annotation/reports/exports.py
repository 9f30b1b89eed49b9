"""The votes CSV (CONTRACT.md): one row per (rating, question), the input of the analysis package;
and the design file beside it (README, "The design file"): how the study was run.

After the contract's fourteen columns come the optional ones this platform knows (CONTRACT.md,
"Votes CSV, optional columns"): `position`, the item's place in the rater's sequence (1-based; empty
for votes recorded before positions were), in a study with several samples per prompt `sample` (the
item's sample index, 0-based), and in a study with early stopping `early_stop` (1 when the item
stopped receiving raters because its outcome was decided, else 0)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from django.db.models import Count, Q

from analysis import COLUMNS, design_document, spreadsheet_safe
from annotation.models import Item, Study
from annotation.options import design_options
from annotation.rating.analysed import analysed_votes

# The optional columns written after COLUMNS.
EXTRA_COLUMNS = ("position",)


def votes_rows(*, study: Study, include_excluded: bool = False) -> Iterator[tuple]:
    """The study's votes as CSV rows, attention items, dropped items and screened-out raters left out;
    `choice` and `left` name systems."""
    votes = (
        analysed_votes(study=study, include_excluded=include_excluded)
        .order_by("assignment__item_id", "question", "assignment__rater__worker_id")
        .values_list(
            "assignment__item_id", "assignment__item__prompt__key", "assignment__item__prompt__text",
            "assignment__item__prompt__category", "assignment__item__pair__system_a__name",
            "assignment__item__pair__system_b__name", "question", "assignment__rater__worker_id",
            "choice", "assignment__left", "reasons", "watch_ms", "created_at", "assignment__position",
            "assignment__item__sample", "assignment__item__decided",
        )
    )
    for (item, key, text, category, a, b, question, rater, choice, left, reasons, watch_ms, created, position, sample,
         decided) in votes.iterator(chunk_size=5000):
        names = {"a": a, "b": b, "tie": "tie"}
        row = (
            study.name, item, key, text, category, a, b, question, rater,
            names[choice], names[left], ";".join(reasons), watch_ms, created.isoformat(), "" if position is None else position,
        )
        yield (*row, *((sample,) if study.samples > 1 else ()), *((int(decided),) if study.early_stop else ()))


def votes_write(*, study: Study, out: TextIO, include_excluded: bool = False) -> int:
    """Write the votes CSV of `study` to `out`; returns the number of rows.

    A text cell a spreadsheet would run as a formula (a prompt or worker id starting with `=`, say)
    gets a leading apostrophe, which `analysis.read_votes` removes again (CONTRACT.md, "Additions").
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS + EXTRA_COLUMNS + (("sample",) if study.samples > 1 else ()) + (("early_stop",) if study.early_stop else ()))
    count = 0
    for row in votes_rows(study=study, include_excluded=include_excluded):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        count += 1
    return count


def study_design(*, study: Study) -> dict:
    """The study's design file (`juice-design/1`): whether it was dynamic, the sequential test's
    settings, and each pair's item count as the votes CSV carries items (attention and dropped
    items left out), the cap the sequential test runs against."""
    exported = Q(items__is_attention=False) & ~Q(items__status=Item.Status.DROPPED)
    pairs = (
        study.pairs.order_by("pk")
        .annotate(exported=Count("items", filter=exported))
        .values_list("system_a__name", "system_b__name", "exported")
    )
    return design_document(
        study=study.name, **design_options(study), pairs=list(pairs),
        order=study.items.exclude(finished_order=None).order_by("finished_order").values_list("pk", flat=True),
    )
