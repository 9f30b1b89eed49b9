"""A report in each output format, and writing files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pandas as pd

from analysis.report import report_rows
from analysis.tables import render_latex, render_markdown

FORMATS = ("json", "csv", "html", "latex", "markdown")
# A text cell starting with one of these would run as a formula in a spreadsheet (CONTRACT.md, "CSV
# cells that a spreadsheet would run as formulas"); an apostrophe is there because it was escaped.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def render_report(report: dict, fmt: str, settings: dict | None = None) -> str:
    """`report` as JSON, CSV (one row per pair and question), a self-contained HTML page, or the
    win-rate grid of each question as LaTeX (booktabs) or Markdown tables."""
    if fmt == "json":
        # allow_nan=False: an undefined figure must be null, never NaN.
        return json.dumps(report, indent=2, allow_nan=False) + "\n"
    if fmt == "html":
        from analysis.html_report import render_html  # matplotlib: imported only for the page

        return render_html(report, settings=settings)
    if fmt == "latex":
        return render_latex(report)
    if fmt == "markdown":
        return render_markdown(report)
    if fmt != "csv":
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    rows = report_rows(report)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(spreadsheet_safe(column) for column in columns)
    writer.writerows([spreadsheet_safe(row.get(column)) for column in columns] for row in rows)
    return buffer.getvalue()


def render_rater_csv(table: pd.DataFrame) -> str:
    """The per-rater figures (`build_rater_table`) as CSV, one row per rater; an undefined figure is an empty cell."""
    safe = table.assign(rater=[spreadsheet_safe(rater) for rater in table["rater"]])
    return safe.to_csv(index=False, lineterminator="\n", float_format=None)


def spreadsheet_safe(value: object) -> object:
    """A CSV cell as the platform writes it: a text cell that a spreadsheet would run as a formula gets a leading apostrophe.

    Numbers, and text that is a number (-0.25, 1e-3), are written as they are; `read_votes`
    removes the apostrophe again.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


@contextlib.contextmanager
def atomic_writer(path: Path | str) -> Iterator[TextIO]:
    """A text file opened under a temporary name in `path`'s folder, renamed to `path` on success."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
