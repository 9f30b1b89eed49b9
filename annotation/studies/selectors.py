"""What researchers read of studies: a study by name, its matching and item progress, and per-rater figures."""

from __future__ import annotations

import statistics
from collections import defaultdict

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q

from annotation.models import PROBLEMS, Assignment, Item, Report, Study, Vote
from annotation.options import FLAG_AFTER_ITEMS, option
from annotation.rating.analysed import attention_pass_rate, rater_excluded
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
    """Counts of ready items complete, in progress (some raters, not all) and waiting (none yet)."""
    ready = Item.objects.filter(study=study, status=Item.Status.READY)
    counts = ready.aggregate(
        total=Count("pk"),
        complete=Count("pk", filter=Q(votes_done__gte=F("raters_needed"))),
        waiting=Count("pk", filter=Q(claimed=0, votes_done=0)),
        attention=Count("pk", filter=Q(is_attention=True)),
    )
    counts["in_progress"] = counts["total"] - counts["complete"] - counts["waiting"]
    counts["not_ready"] = Item.objects.filter(study=study).exclude(status=Item.Status.READY).count()
    counts["votes"] = Assignment.objects.filter(item__study=study, status=Assignment.Status.VOTED).count()
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


def rater_figures(*, study: Study) -> list[dict]:
    """Per rater: votes, median watch time, attention pass rate, share of decisive answers for the left
    video, and the items they were handed and reported (flagged past the study's `report_share_flag`)."""
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
    flag_share = option("report_share_flag").value(study)
    result = []
    for rater in study.raters.order_by("created_at"):
        figures = answers[rater.pk]
        items, reports = handed.get(rater.pk, (0, 0))
        watch = list(figures["watch"].values())
        result.append(
            {
                "worker_id": rater.worker_id,
                "source": rater.source,
                "votes": len(watch),
                "median_watch_ms": statistics.median(watch) if watch else None,
                "attention_passed": rater.attention_passed,
                "attention_failed": rater.attention_failed,
                "attention_pass_rate": attention_pass_rate(rater),
                "excluded": rater_excluded(rater=rater, study=study),
                "left_share": figures["left"] / figures["decisive"] if figures["decisive"] else None,
                "handed": items,
                "reports": reports,
                "flagged": items >= FLAG_AFTER_ITEMS and reports > flag_share * items,
            }
        )
    return result


def _handed_and_reported(study: Study) -> dict[int, tuple[int, int]]:
    """Per rater id: the items they were handed (practice pairs left out) and those they reported."""
    rows = (Assignment.objects.filter(rater__study=study).exclude(status=Assignment.Status.PRACTICE).order_by().values("rater_id")
            .annotate(handed=Count("pk"), reported=Count("pk", filter=Q(status=Assignment.Status.REPORTED))))
    return {row["rater_id"]: (row["handed"], row["reported"]) for row in rows}


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
