"""Analysis of JUICE votes: plain Python over pandas, no Django, for any votes CSV.

Public API (what the Django side and researchers' scripts call):

- `read_votes(path_or_file) -> DataFrame`: read and validate a votes CSV (CONTRACT.md, "Votes
  CSV"). A malformed file raises `VotesFileError` naming the line.
- `build_report(votes, *, bootstrap=1000, seed=0, exclude_raters=(), allow_tie=None, rater_model=False, design=None,
  aggregate_samples=False) -> dict`:
  every figure of CONTRACT.md's "Analysis" section (`pairs`, `ranking`) plus `summary`,
  `settings`, `position_bias`, `raters` and `reasons_by_system`. JSON-ready: undefined figures
  are None, never NaN. `design`: the study's design file; a dynamic study's report adds each
  pair's sequential figures and flags the fixed-sample ones.
- `design_document(...) -> dict` and `read_design(path_or_file) -> dict`: the design file
  (`juice-design/1`, analysis/design.py) as the platform writes it, and read back.
- `render_html(report, settings=None) -> str`: one self-contained HTML page (inline SVG plots,
  print CSS); `settings` is the study's set-up to show (prompt set, systems, matching, ...).
- `report_rows(report) -> list[dict]`: one flat row per (pair, question), for CSV.
- `render_report(report, fmt, settings=None) -> str`: the report as `json`, `csv` or `html`, or its
  win-rate grids as `latex` (booktabs) or `markdown`.
- `build_rater_table(votes) -> DataFrame` and `render_rater_csv(table) -> str`: every rater's figures.
- `spreadsheet_safe(cell)`: a CSV cell as the platform writes it (formula-like text gets an apostrophe).
- `atomic_writer(path)`: a context manager writing a text file under a temporary name, renamed
  when complete.
- `AnalysisError`: bad input (e.g. excluding an unknown rater); `VotesFileError` is its subclass
  for malformed files.

Command line: `python -m analysis report VOTES.csv --format json|csv|html|latex|markdown
[-o PATH] [--bootstrap N] [--seed S] [--exclude-raters a,b] [--raters-csv PATH] [--rater-model] [--design FILE]
[--aggregate-samples]`
and `python -m analysis plan --win-rate W --power P [--alpha A] [--tie-rate T]`; exit status 2
on bad input.
"""

from analysis.design import design_document, read_design
from analysis.render import atomic_writer, render_rater_csv, render_report, spreadsheet_safe
from analysis.report import build_rater_table, build_report, report_rows
from analysis.votes import COLUMNS, OPTIONAL_COLUMNS, AnalysisError, VotesFileError, VotesFileWarning, read_votes

__all__ = [
    "COLUMNS", "OPTIONAL_COLUMNS", "AnalysisError", "VotesFileError", "VotesFileWarning", "atomic_writer", "build_rater_table",
    "build_report", "design_document", "read_design", "read_votes", "render_html", "render_rater_csv", "render_report", "report_rows",
    "spreadsheet_safe",
]


def __getattr__(name: str) -> object:
    # The HTML page needs matplotlib, which takes a second to import: only load it when asked for.
    if name == "render_html":
        from analysis.html_report import render_html

        return render_html
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
