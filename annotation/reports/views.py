"""A study's report and its downloads, for researchers: the HTML report, JSON, CSV, LaTeX and Markdown tables, the votes and raters
CSVs and the design file."""

from __future__ import annotations

import io
import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.http import http_date
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from annotation.models import Study
from annotation.reports.cache import API_FILE, RATERS_FILE, CachedReport, report_cached, report_refresh
from annotation.reports.exports import study_design, votes_write
from annotation.reports.schemas import DesignOut, ReportComputing, ReportOut
from annotation.reports.services import CONTENT_TYPES, FORMAT_OF_EXTENSION
from juice import csp
from juice.auth import researcher_required, token_required
from juice.http import api_answer
from juice.openapi import api_operation


def _download(response: HttpResponse, request: HttpRequest, filename: str) -> HttpResponse:
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# Seconds after which a client asking for a report that is being computed should ask again.
RETRY_SECONDS = 3
COMPUTING = "The report is being computed; ask again in a few seconds.\n"


def _dated(response: HttpResponse, cached: CachedReport) -> HttpResponse:
    """The stored report's answer says when it was computed, and whether newer votes came since."""
    response["Last-Modified"] = http_date(cached.computed_at.timestamp())
    response["X-Report-Computed-At"] = cached.computed_at.isoformat()
    response["X-Report-Up-To-Date"] = "1" if cached.up_to_date else "0"
    return response


def _freshness(request: HttpRequest, study: Study, cached: CachedReport | None) -> str:
    return render_to_string("annotation/_report_freshness.html", {"study": study, "cached": cached}, request=request)


@require_safe
@researcher_required
def study_report_view(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """`/studies/<slug>/report.<fmt>`: shown in the browser, or saved with `?download=1`; served from the
    last computed report (annotation/reports/cache.py), `202` while the first is being computed."""
    study = get_object_or_404(Study, slug=slug)
    if fmt not in FORMAT_OF_EXTENSION:
        raise Http404("reports come as .html, .json, .csv, .tex (LaTeX tables) or .md (Markdown tables)")
    cached = report_cached(study=study)
    if cached is None:
        if fmt == "html":
            response = render(request, "annotation/report_computing.html", {"study": study, "cached": None}, status=202)
        else:
            response = HttpResponse(COMPUTING, content_type="text/plain; charset=utf-8", status=202)
        response["Retry-After"] = str(RETRY_SECONDS)
        return response
    text = cached.text(f"report.{fmt}")
    if fmt == "html" and not request.GET.get("download"):
        # Above the report: when it was computed, whether newer votes came since, a button for a fresh one.
        head, body, rest = text.partition("<body>")
        text = head + body + _freshness(request, study, cached) + rest if body else text
    response = HttpResponse(text, content_type=CONTENT_TYPES[fmt])
    if fmt == "html":
        # The report's styles travel inside it, as in the file `python -m analysis report` writes: allowed by
        # their hashes, found when it was computed (the banner above holds no inline code).
        response[csp.HEADER] = csp.policy(cached.inline)
    return _download(_dated(response, cached), request, f"report-{study.slug}.{fmt}")


@require_safe
@researcher_required
def study_report_status(request: HttpRequest, slug: str) -> HttpResponse:
    """`/studies/<slug>/report/status`: the report's freshness alone, which the report page (or the page
    saying it is being computed) fetches to know when to load the new one."""
    study = get_object_or_404(Study, slug=slug)
    return HttpResponse(_freshness(request, study, report_cached(study=study)))


@require_POST
@researcher_required
def study_report_refresh(request: HttpRequest, slug: str) -> HttpResponse:
    """The button: compute the report again in the background, then show the report page, which
    loads the new report once it is there."""
    study = get_object_or_404(Study, slug=slug)
    report_refresh(study=study)
    return redirect("study-report", study.slug, "html")


@require_safe
@researcher_required
def study_votes_view(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    out = io.StringIO()
    votes_write(study=study, out=out)
    return _download(HttpResponse(out.getvalue(), content_type=CONTENT_TYPES["csv"]), request, f"votes-{study.slug}.csv")


@require_safe
@researcher_required
def study_design_view(request: HttpRequest, slug: str) -> HttpResponse:
    """`/studies/<slug>/design.json`: the design file beside the votes CSV (`python -m analysis report votes.csv --design design.json`)."""
    study = get_object_or_404(Study, slug=slug)
    text = json.dumps(study_design(study=study), indent=2) + "\n"
    return _download(HttpResponse(text, content_type=CONTENT_TYPES["json"]), request, f"design-{study.slug}.json")


@require_safe
@researcher_required
def study_raters_view(request: HttpRequest, slug: str) -> HttpResponse:
    """`/studies/<slug>/raters.csv`: every rater's figures (agreement with the majority, time, ties)."""
    study = get_object_or_404(Study, slug=slug)
    cached = report_cached(study=study)
    if cached is None:
        response = HttpResponse(COMPUTING, content_type="text/plain; charset=utf-8", status=202)
        response["Retry-After"] = str(RETRY_SECONDS)
        return response
    response = HttpResponse(cached.text(RATERS_FILE), content_type=CONTENT_TYPES["csv"])
    return _download(_dated(response, cached), request, f"raters-{study.slug}.csv")


def _computing() -> JsonResponse:
    response = api_answer(ReportComputing(status="computing"), status=202)
    response["Retry-After"] = str(RETRY_SECONDS)
    return response


@api_operation("GET", summary="The study's report (CONTRACT.md, \"Analysis\"), with its settings, as last computed",
               answers={200: ReportOut, 202: ReportComputing}, errors={404: "no such study"},
               description="Reports are computed in the background when votes, exclusions or settings change, and served "
                           "from there: `computed_at` says when, `up_to_date` whether newer votes came since (a new "
                           "computation is then under way). Before the first report: `202` with "
                           "`{\"status\": \"computing\"}` and `Retry-After`; ask again.")
@api_operation("POST", summary="Ask for the study's report to be computed again now", answers={202: ReportComputing},
               errors={404: "no such study"})
@require_http_methods(["GET", "HEAD", "POST"])
@token_required
def api_study_report(request: HttpRequest, slug: str) -> JsonResponse:
    """`GET /api/studies/<slug>/report`: the JSON report (CONTRACT.md, "Analysis"), or `202` while the first
    is computed; `POST`: compute it again."""
    study = get_object_or_404(Study, slug=slug)
    if request.method == "POST":
        report_refresh(study=study)
        return _computing()
    cached = report_cached(study=study)
    if cached is None:
        return _computing()
    report = json.loads(cached.text(API_FILE))
    report.update(computed_at=cached.computed_at.isoformat(), up_to_date=cached.up_to_date)
    return _dated(JsonResponse(report, json_dumps_params={"allow_nan": False}), cached)


@api_operation("GET", summary="The study's design file (`juice-design/1`)", answers={200: DesignOut}, errors={404: "no such study"})
@require_safe
@token_required
def api_study_design(request: HttpRequest, slug: str) -> JsonResponse:
    """`GET /api/studies/<slug>/design`: the study's design file."""
    study = get_object_or_404(Study, slug=slug)
    return api_answer(DesignOut.model_validate(study_design(study=study)), json_dumps_params={"allow_nan": False})
