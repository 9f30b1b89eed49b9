"""A study's report: its votes CSV run through the analysis package, with the study's settings.

Going through the exported CSV means the figures on the report page are exactly those that
`python -m analysis report` computes from the downloaded votes file; for a dynamic study the
report passes the study's design file too, as `--design design.json` does.
"""

from __future__ import annotations

import io

import analysis
import analysis.render
from annotation.models import Study
from annotation.options import report_options, study_settings_list
from annotation.rating.analysed import raters_excluded
from annotation.reports.exports import study_design, votes_write

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "tex": "text/x-tex; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}
# A download's file extension -> the analysis package's format name.
FORMAT_OF_EXTENSION = {"json": "json", "csv": "csv", "html": "html", "tex": "latex", "md": "markdown"}


def study_settings(*, study: Study, words: bool = False) -> dict:
    """The study's set-up as the report carries it: every option but the private ones (annotation/options.py),
    under the API's names with their values; `words`: under their labels, in words, for the HTML report."""
    excluded = ", ".join(r.worker_id for r in raters_excluded(study=study)) or "none"
    pairs = [f"{p.system_a.name} vs {p.system_b.name}" for p in study.pairs.select_related("system_a", "system_b").order_by("pk")]
    options = dict(study_settings_list(study, shared=True)) if words else report_options(study)
    return {"study": study.name, "prompt_set": study.prompt_set.name, "pairs": pairs, **options, "excluded_raters": excluded}


def study_votes(*, study: Study):
    """The study's votes as the analysis package reads them, through the votes CSV."""
    buffer = io.StringIO()
    votes_write(study=study, out=buffer)
    buffer.seek(0)
    return analysis.read_votes(buffer)


def study_report(*, study: Study, bootstrap: int = 1000, seed: int = 0, votes=None) -> dict:
    """The study's report (of `votes` if given, as `study_votes` reads them); a dynamic study's with its
    design, so its pairs carry their sequential figures. Computed now: web requests serve the stored one
    (annotation/reports/cache.py)."""
    design = study_design(study=study) if study.dynamic else None
    votes = study_votes(study=study) if votes is None else votes
    report = analysis.build_report(votes, bootstrap=bootstrap, seed=seed, allow_tie=study.allow_tie, design=design,
                                   aggregate_samples=study.sample_unit == "prompt")
    report["study"] = study_settings(study=study)
    return report


def report_render(*, study: Study, fmt: str, bootstrap: int = 1000, seed: int = 0) -> str:
    """The report of `study` as a JSON, CSV or self-contained HTML document, or its win-rate tables
    as LaTeX or Markdown (`fmt` is the analysis package's format name)."""
    if fmt not in analysis.render.FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(analysis.render.FORMATS)}")
    report = study_report(study=study, bootstrap=bootstrap, seed=seed)
    return analysis.render_report(report, fmt, settings=study_settings(study=study, words=True))


def study_raters_csv(*, study: Study, votes=None) -> str:
    """Every rater's figures as CSV, one row per rater (the report's JSON lists only the first ones)."""
    votes = study_votes(study=study) if votes is None else votes
    if votes.empty:
        return ",".join(["rater"]) + "\n"
    return analysis.render_rater_csv(analysis.build_rater_table(votes, allow_tie=study.allow_tie))
