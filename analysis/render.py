"""A report in each output format, and writing files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from analysis.html_report import render_html
from analysis.report import report_rows

FORMATS = ("json", "csv", "html")


def render_report(report: dict, fmt: str, settings: dict | None = None) -> str:
    """`report` as JSON, CSV (one row per pair and question) or a self-contained HTML page."""
    if fmt == "json":
        # allow_nan=False: an undefined figure must be null, never NaN.
        return json.dumps(report, indent=2, allow_nan=False) + "\n"
    if fmt == "html":
        return render_html(report, settings=settings)
    if fmt != "csv":
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    rows = report_rows(report)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


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
