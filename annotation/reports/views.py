"""A study's report and its downloads, for researchers: the HTML report, JSON, CSV, LaTeX and Markdown tables, the votes and raters
CSVs and the design file."""

from __future__ import annotations

import io
import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe

from annotation.models import Study
from annotation.reports.exports import study_design, votes_write
from annotation.reports.schemas import DesignOut, ReportOut
from annotation.reports.services import CONTENT_TYPES, FORMAT_OF_EXTENSION, report_render, study_raters_csv, study_report
from juice import csp
from juice.auth import researcher_required, token_required
from juice.http import api_answer
from juice.openapi import api_operation


def _download(response: HttpResponse, request: HttpRequest, filename: str) -> HttpResponse:
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
@researcher_required
def study_report_view(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """`/studies/<slug>/report.<fmt>`: shown in the browser, or saved with `?download=1`."""
    study = get_object_or_404(Study, slug=slug)
    if fmt not in FORMAT_OF_EXTENSION:
        raise Http404("reports come as .html, .json, .csv, .tex (LaTeX tables) or .md (Markdown tables)")
    text = report_render(study=study, fmt=FORMAT_OF_EXTENSION[fmt])
    response = HttpResponse(text, content_type=CONTENT_TYPES[fmt])
    if fmt == "html":
        csp.inline_allow(response)  # the report's styles travel inside it, as in the file `python -m analysis report` writes
    return _download(response, request, f"report-{study.slug}.{fmt}")


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
    text = study_raters_csv(study=study)
    return _download(HttpResponse(text, content_type=CONTENT_TYPES["csv"]), request, f"raters-{study.slug}.csv")


@api_operation("GET", summary="The study's report (CONTRACT.md, \"Analysis\"), with its settings", answers={200: ReportOut},
               errors={404: "no such study"})
@require_safe
@token_required
def api_study_report(request: HttpRequest, slug: str) -> JsonResponse:
    """`GET /api/studies/<slug>/report`: the JSON report (CONTRACT.md, "Analysis")."""
    study = get_object_or_404(Study, slug=slug)
    return api_answer(ReportOut.model_validate(study_report(study=study)), json_dumps_params={"allow_nan": False})


@api_operation("GET", summary="The study's design file (`juice-design/1`)", answers={200: DesignOut}, errors={404: "no such study"})
@require_safe
@token_required
def api_study_design(request: HttpRequest, slug: str) -> JsonResponse:
    """`GET /api/studies/<slug>/design`: the study's design file."""
    study = get_object_or_404(Study, slug=slug)
    return api_answer(DesignOut.model_validate(study_design(study=study)), json_dumps_params={"allow_nan": False})
