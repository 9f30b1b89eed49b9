"""What researchers read of studies: a study by name, its matching and item progress, and per-rater figures."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import dateformat, timezone

from annotation.models import PROBLEMS, Assignment, Item, Rater, RaterFigures, Report, Study, Vote
from annotation.options import FLAG_AFTER_ITEMS, option
from annotation.rating.analysed import attention_pass_rate, rater_excluded
from annotation.rating.dynamic import pair_rows, votes_saved
from annotation.rating.sides import LEFT, screen_choice
from annotation.studies.matching import encodes_waiting
from generation.matching.policy import policy_describe, target_describe
from generation.models import MatchedVideo


def study_by_name_or_slug(name: str) -> Study | None:
    """A study by its name or its public slug."""
    return Study.objects.filter(Q(name=name) | Q(slug=name)).first()


def matching_summary(*, study: Study) -> dict:
    """How many items are in each matching state, the failed ones with their error, and which pending
    items wait on which encode since when."""
    counts = dict.fromkeys(Item.Status.values, 0)
    counts.update(study.items.order_by().values_list("status").annotate(n=Count("pk")))
    failed = study.items.filter(status=Item.Status.FAILED).select_related("prompt", "pair__system_a", "pair__system_b").order_by("pk")
    waiting = encodes_waiting(study_id=study.pk) if counts[Item.Status.PENDING] else []
    return {
        "study": study, "counts": counts, "total": sum(counts.values()), "failed_items": failed,
        "waiting_encodes": len(waiting), "lost_minutes": max(1, settings.JUICE_LOST_SECONDS // 60),
        "policy_words": policy_describe(study.matching),
        "awaited": _encodes_awaited(study, set(waiting)) if counts[Item.Status.PENDING] else [],
    }


AWAITED_ROWS = 50  # a study being matched can have thousands of items; the first ones say enough


def _encodes_awaited(study: Study, waiting: set[int]) -> list[dict]:
    """Which pending items wait on which unfinished encode, and since when: queued (pending) or claimed
    by a worker (running, with its last heartbeat); `late` when it waits too long (encodes_waiting)."""
    items = (
        study.items.filter(status=Item.Status.PENDING)
        .select_related("prompt", "pair__system_a", "pair__system_b", "matched_a", "matched_b").order_by("pk")[:AWAITED_ROWS]
    )
    rows = []
    for item in items:
        for side, matched in (("A", item.matched_a), ("B", item.matched_b)):
            if matched is None:  # not attached yet: match_study has not run
                rows.append({"item": item, "side": side, "encode": None, "since": None, "late": False})
            elif matched.status != MatchedVideo.Status.READY:
                running = matched.status == MatchedVideo.Status.RUNNING
                since = matched.started_at if running else matched.queued_at or matched.created_at
                rows.append({"item": item, "side": side, "encode": matched, "since": since, "late": matched.pk in waiting})
    return rows


def study_progress(*, study: Study) -> dict:
    """Counts of ready items complete, in progress (some raters, not all) and waiting (none yet), of the
    items not ready, and of votes and raters. Read from the items' counters (each vote adds one to its
    item's votes_done in its own transaction), never by counting the votes."""
    ready = Q(status=Item.Status.READY)
    counts = Item.objects.filter(study=study).aggregate(
        total=Count("pk", filter=ready),
        complete=Count("pk", filter=ready & Q(votes_done__gte=F("raters_needed"))),
        waiting=Count("pk", filter=ready & Q(claimed=0, votes_done=0)),
        attention=Count("pk", filter=ready & Q(is_attention=True)),
        not_ready=Count("pk", filter=~ready),
        votes=Coalesce(Sum("votes_done"), 0),
    )
    counts["in_progress"] = counts["total"] - counts["complete"] - counts["waiting"]
    counts["raters"] = study.raters.count()
    return counts


def reported_items(*, study: Study) -> list[dict]:
    """The items raters reported a problem with, most reported first: each with its reports (problem,
    the rater's text, who, when), for the researcher to drop or match again."""
    reports = (
        Report.objects.filter(assignment__item__study=study)
        .select_related("assignment__item__prompt", "assignment__item__pair__system_a", "assignment__item__pair__system_b",
                        "assignment__rater")
        .order_by("created_at")
    )
    items: dict[int, dict] = {}
    for report in reports:
        item = report.assignment.item
        entry = items.setdefault(item.pk, {"item": item, "reports": []})
        entry["reports"].append({"problem": PROBLEMS[report.problem], "text": report.text,
                                 "rater": report.assignment.rater.worker_id, "at": report.created_at})
    return sorted(items.values(), key=lambda e: (-len(e["reports"]), e["item"].pk))


def rater_vote_figures(*, study: Study) -> dict[int, dict]:
    """Per rater id, the figures that need every vote and assignment: votes, median watch time, share of
    decisive answers for the left video, items handed (practice pairs left out) and reported. Reads every
    vote of the study: the background computes it (annotation/studies/figures.py), pages read the result."""
    answers = defaultdict(lambda: {"watch": {}, "left": 0, "decisive": 0})
    rows = Vote.objects.filter(assignment__item__study=study).values_list(
        "assignment__rater_id", "assignment_id", "assignment__left", "choice", "watch_ms"
    )
    for rater_id, assignment_id, left, choice, watch_ms in rows:
        figures = answers[rater_id]
        figures["watch"][assignment_id] = watch_ms
        if choice != Vote.Choice.TIE:
            figures["decisive"] += 1
            figures["left"] += screen_choice(choice, left) == LEFT
    handed = _handed_and_reported(study)
    result = {}
    for rater_id in answers.keys() | handed.keys():
        figures, (items, reports) = answers[rater_id], handed.get(rater_id, (0, 0))
        watch = list(figures["watch"].values())
        result[rater_id] = {
            "votes": len(watch),
            "median_watch_ms": statistics.median(watch) if watch else None,
            "left_share": figures["left"] / figures["decisive"] if figures["decisive"] else None,
            "handed": items,
            "reported": reports,
        }
    return result


NO_FIGURES = {"votes": 0, "median_watch_ms": None, "left_share": None, "handed": 0, "reported": 0}


def rater_figures(*, study: Study) -> list[dict]:
    """Per rater, computed now from every vote: votes, median watch time, attention pass rate, share of
    decisive answers for the left video, and the items they were handed and reported (flagged past the
    study's `report_share_flag`). The study page shows the same figures from `rater_page`."""
    counted = rater_vote_figures(study=study)
    flag_share = option("report_share_flag").value(study)
    result = []
    for rater in study.raters.order_by("created_at", "pk"):
        figures = counted.get(rater.pk, NO_FIGURES)
        result.append(
            {
                "worker_id": rater.worker_id,
                "source": rater.source,
                "votes": figures["votes"],
                "median_watch_ms": figures["median_watch_ms"],
                "attention_passed": rater.attention_passed,
                "attention_failed": rater.attention_failed,
                "attention_pass_rate": attention_pass_rate(rater),
                "excluded": rater_excluded(rater=rater, study=study),
                "left_share": figures["left_share"],
                "handed": figures["handed"],
                "reports": figures["reported"],
                "flagged": _flagged(figures["handed"], figures["reported"], flag_share),
            }
        )
    return result


def _flagged(handed: int, reported: int, flag_share: float) -> bool:
    """Whether a rater reported more than the study's share of their items, once they were handed enough to judge."""
    return handed >= FLAG_AFTER_ITEMS and reported > flag_share * handed


def _handed_and_reported(study: Study) -> dict[int, tuple[int, int]]:
    """Per rater id: the items they were handed (practice pairs left out) and those they reported."""
    rows = (Assignment.objects.filter(rater__study=study).exclude(status=Assignment.Status.PRACTICE).order_by().values("rater_id")
            .annotate(handed=Count("pk"), reported=Count("pk", filter=Q(status=Assignment.Status.REPORTED))))
    return {row["rater_id"]: (row["handed"], row["reported"]) for row in rows}


RATERS_PER_PAGE = 50
UNDEFINED = "\N{EN DASH}"  # a figure without a value (no votes yet), as the page writes it
# Figures older than this are computed again when a page shows them and the study is open: handing out
# and reporting items move them without a vote.
FIGURES_MAX_AGE = timedelta(seconds=60)


@dataclass(frozen=True)
class RaterPage:
    """One page of the study page's rater table: its rows (every cell as the page writes it, by the name
    its element id ends with), when the figures that need every vote were computed (the oldest shown;
    None when one is missing), and whether they should be computed again."""

    page: Page
    rows: list[dict]
    computed_at: datetime | None
    outdated: bool


def rater_page(*, study: Study, page: str | int | None = None) -> RaterPage:
    """One page of the rater table (RATERS_PER_PAGE raters, in the order they joined): each rater's counters
    (kept by the vote's transaction) and the figures the background stored (annotation/studies/figures.py).
    Raises django.core.paginator.InvalidPage for a page that is not a number of the table's."""
    raters = study.raters.select_related("figures").order_by("created_at", "pk")
    shown = Paginator(raters, RATERS_PER_PAGE).page(1 if page in (None, "") else page)
    flag_share = option("report_share_flag").value(study)
    stored = [getattr(rater, "figures", None) for rater in shown]  # none yet: the related lookup's error is an AttributeError
    rows = [_rater_row(rater, figures, study, flag_share) for rater, figures in zip(shown, stored, strict=True)]
    times = [f.computed_at for f in stored if f is not None]
    computed_at = min(times) if times and len(times) == len(stored) else None
    outdated = any(f is None or f.votes != r.votes_done for f, r in zip(stored, shown, strict=True)) or (
        computed_at is not None and study.status == Study.Status.OPEN and timezone.now() - computed_at > FIGURES_MAX_AGE)
    return RaterPage(shown, rows, computed_at, outdated)


def _rater_row(rater: Rater, figures: RaterFigures | None, study: Study, flag_share: float) -> dict:
    handed, reported = (figures.handed, figures.reported) if figures else (0, 0)
    watch = figures.median_watch_ms if figures else None
    flagged = _flagged(handed, reported, flag_share)
    return {
        "id": rater.pk, "worker_id": rater.worker_id, "source": rater.source,
        "votes": str(rater.votes_done),
        "watch": UNDEFINED if watch is None else str(round(watch / 1000)),
        "attention": f"{rater.attention_passed}/{rater.attention_passed + rater.attention_failed}",
        "rate": _percent(attention_pass_rate(rater)),
        "left": _percent(figures.left_share if figures else None),
        "reports": f"{reported} of {handed}",
        "flagged": "flagged: review" if flagged else "",
        "excluded": "yes" if rater_excluded(rater=rater, study=study) else "no",
    }


def _percent(share: float | None) -> str:
    return UNDEFINED if share is None else f"{round(share * 100)}%"


ITEMS_PER_PAGE = 20


def study_items_page(*, study: Study, page: str | int | None = None) -> tuple[Page, list[dict]]:
    """One page of the study's items, each with its pair, prompt, matched files and target in words."""
    items = (study.items.select_related("prompt", "pair__system_a", "pair__system_b", "matched_a", "matched_b")
             .order_by("is_attention", "pair_id", "prompt__position", "pk"))
    page_of_items = Paginator(items, ITEMS_PER_PAGE).get_page(page)
    rows = [{"item": item, "target": target_describe(item.matching_params),
             "playable": bool(item.matched_a and item.matched_a.file and item.matched_b and item.matched_b.file)}
            for item in page_of_items]
    return page_of_items, rows


RATER_CELLS = ("votes", "watch", "attention", "rate", "left", "reports", "flagged", "excluded")


def study_figures(*, study: Study, page: str | int | None = None) -> dict:
    """What the study page shows that moves while raters work: progress, votes saved (dynamic evaluation
    or early stopping), the pairs' states (dynamic), one page of the rater table; and `fields`, each of
    those cells as the page writes it by its element id, which the live refresh sends (`study_live`).
    Raises InvalidPage for a rater page that does not exist."""
    progress = study_progress(study=study)
    saved = votes_saved(study=study) if study.dynamic or study.early_stop else None
    if saved is not None:
        saved["saved_text"] = f"{saved['saved']}" + (f" ({round(saved['saved_share'] * 100)}%)" if saved["saved_share"] is not None else "")
    pairs = [_pair_cells(row) for row in pair_rows(study=study)] if study.dynamic else None
    raters = rater_page(study=study, page=page)
    fields = {"study-status": f"({study.status})", **{f"progress-{k}": str(v) for k, v in progress.items()}}
    for key in ("full", "spent", "saved_pairs", "saved_items", "saved_text") if saved else ():
        fields[f"saved-{key}"] = str(saved[key])
    for pair in pairs or ():
        fields.update({f"pair-{pair['id']}-{key}": pair[key] for key in ("status", "settled", "finished", "why")})
        for n, (text, drift) in enumerate(pair["questions"]):
            fields[f"pair-{pair['id']}-q{n}"], fields[f"pair-{pair['id']}-q{n}-drift"] = text, drift
    for row in raters.rows:
        fields.update({f"rater-{row['id']}-{key}": row[key] for key in RATER_CELLS})
    computed = raters.computed_at
    if not raters.rows:
        fields["rater-figures-at"] = "none yet, no rater has joined"
    elif computed is None:
        fields["rater-figures-at"] = "being computed"
    else:
        fields["rater-figures-at"] = f"computed at {dateformat.format(timezone.localtime(computed), 'Y-m-d H:i:s T')}"
    return {"progress": progress, "saved": saved, "pairs": pairs, "raters": raters, "fields": fields,
            "figures_at": fields["rater-figures-at"]}


def _pair_cells(row: dict) -> dict:
    """A row of the pairs table (annotation/rating/dynamic.py's `pair_rows`), each cell as the page writes it."""
    settled = row["settled_at"]
    questions = []
    for _question, f in row["questions"]:
        if f and f.get("winner"):
            questions.append((f"{f['winner']} wins at item {f['items']}", "drift" if f.get("drift_flagged") else ""))
        else:
            questions.append((f"{f['implied']} ahead (implied)" if f and f.get("implied") else "open", ""))
    return {
        "id": row["pair"].pk, "name": f"{row['pair'].system_a.name} vs {row['pair'].system_b.name}", "status": row["status"],
        "settled": dateformat.format(timezone.localtime(settled), "Y-m-d H:i:s") if settled else "",
        "finished": f"{row['items_finished'] or 0}" + (f" of {row['cap']}" if row["cap"] else ""),
        "questions": questions, "why": row["reason"] or "no item finished yet",
    }
