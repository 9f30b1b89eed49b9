"""A study's report, computed in the background and served from files (README, "Reports").

A web request never computes a report: it serves the files of the last computation, with the time it
was made. Each computation is stored under the study's *state*, a hash of what the report depends on
(the number of votes, the excluded raters, screened-out raters and dropped items, the
finished items of a dynamic study, the settings), in a folder of its own under JUICE_REPORTS_DIR; a
pointer file names the newest. Files are written atomically, the pointer last, so a reader sees a whole
report or the one before. When the state moved on since, the report is served with a note and computed
again in the background (coalesced per study: juice/background.py). The state is read in the same
database snapshot as the votes, so a report is never filed under a state it does not reflect.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max, Sum
from django.utils import timezone

import analysis
from annotation.models import Item, Study
from annotation.rating.analysed import REPORT_TASK, raters_excluded, report_key
from annotation.reports.schemas import ReportOut
from annotation.reports.services import FORMAT_OF_EXTENSION, study_raters_csv, study_report, study_settings, study_votes
from juice import csp
from juice.background import background_run, background_task
from juice.files import atomic_path
from juice.snapshot import read_snapshot

# Bumped when what a stored report holds changes, so that older files count as out of date.
FILES_VERSION = 1
POINTER = "current.json"
# The stored files: the report in every format (by download extension), the API's JSON and the raters CSV.
API_FILE = "api.json"
RATERS_FILE = "raters.csv"


@dataclass(frozen=True)
class CachedReport:
    """The last computed report of a study: its folder, when it was computed, and whether the study's
    state is still the one it was computed for (`up_to_date`)."""

    folder: Path
    computed_at: datetime
    up_to_date: bool
    inline: dict  # the HTML report's inline code, by CSP directive (juice/csp.py)

    def text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")


def _study_folder(study: Study) -> Path:
    return Path(settings.JUICE_REPORTS_DIR) / f"{study.pk}-{study.slug}"


def report_state(*, study: Study) -> str:
    """A short hash of everything the study's report depends on; it changes with each vote."""
    # Each vote adds one to its item's votes_done in the vote's own transaction (annotation/rating/voting.py):
    # their sum moves with every vote, and is read from the items (10,000 rows at 100,000 votes) instead of
    # counting the votes through their assignments (70 ms there).
    votes = study.items.aggregate(votes=Sum("votes_done"), items=Count("pk"), last=Max("finished_order"),
                                  finished=Count("finished_order"))
    exclusions = {
        "attention": sorted(r.pk for r in raters_excluded(study=study)),
        "screened_out": sorted(study.raters.filter(screened_out=True).values_list("pk", flat=True)),
        "dropped": sorted(study.items.filter(status=Item.Status.DROPPED).values_list("pk", flat=True)),
    }
    blob = json.dumps([FILES_VERSION, votes, exclusions, study_settings(study=study), study.allow_tie,
                       study.sample_unit, study.dynamic], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def report_store(*, study: Study) -> CachedReport:
    """Compute the study's report in every format now and store it as its newest; what the background
    runs, and what tests call to have a report at once."""
    with read_snapshot():
        state = report_state(study=study)
        votes = study_votes(study=study)
        report = study_report(study=study, votes=votes)
        words = study_settings(study=study, words=True)
        raters = study_raters_csv(study=study, votes=votes)
    texts = {f"report.{ext}": analysis.render_report(report, fmt, settings=words) for ext, fmt in FORMAT_OF_EXTENSION.items()}
    texts[API_FILE] = json.dumps(ReportOut.model_validate(report).model_dump(mode="json", exclude_unset=True), allow_nan=False)
    texts[RATERS_FILE] = raters
    root = _study_folder(study)
    folder = root / state
    for name, text in texts.items():
        with atomic_path(folder / name) as path:
            path.write_text(text, encoding="utf-8")
    meta = {"state": state, "computed_at": timezone.now().isoformat(), "inline": csp.inline_sources(texts["report.html"])}
    with atomic_path(folder / "meta.json") as path:
        path.write_text(json.dumps(meta), encoding="utf-8")
    with atomic_path(root / POINTER) as path:
        path.write_text(json.dumps({"state": state}), encoding="utf-8")
    _prune(root, keep={state, _previous(root, state)})
    return CachedReport(folder, datetime.fromisoformat(meta["computed_at"]), True, meta["inline"])


def _previous(root: Path, state: str) -> str | None:
    """The newest folder but `state`'s: a reader that read the pointer just before it moved still finds its files."""
    others = [p for p in root.iterdir() if p.is_dir() and p.name != state and (p / "meta.json").exists()]
    return max(others, key=lambda p: (p / "meta.json").stat().st_mtime).name if others else None


def _prune(root: Path, keep: set[str | None]) -> None:
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def report_cached(*, study: Study, check: bool = True) -> CachedReport | None:
    """The study's last computed report, or None before the first. With `check`, whether the study's
    state moved on since is found out, and a report out of date (or missing) is asked for again."""
    root = _study_folder(study)
    try:
        state = json.loads((root / POINTER).read_text())["state"]
        meta = json.loads((root / state / "meta.json").read_text())
    except (OSError, ValueError, KeyError):
        meta = None
    up_to_date = meta is not None and (not check or meta["state"] == report_state(study=study))
    if check and not up_to_date:
        report_refresh(study=study)
    if meta is None:
        return None
    return CachedReport(root / meta["state"], datetime.fromisoformat(meta["computed_at"]), up_to_date, meta["inline"])


@background_task
def report_compute(study_id: int) -> None:
    """The background task: compute and store the report of study `study_id` (gone: nothing to do)."""
    study = Study.objects.filter(pk=study_id).select_related("prompt_set").first()
    if study is not None:
        report_store(study=study)


assert report_compute.background_name == REPORT_TASK, "annotation/rating/analysed.py names the report's task"


def report_refresh(*, study: Study, delay: float = 0) -> None:
    """Ask for the study's report to be computed again in the background, after the caller's transaction commits
    (after a vote: `report_outdated` of annotation/rating/analysed.py, which waits a moment for more votes)."""
    background_run(report_compute, study.pk, key=report_key(study.pk), delay=delay)
