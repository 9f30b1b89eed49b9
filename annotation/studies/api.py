"""The studies' JSON API: `POST /api/studies` creates one, `GET /api/studies/<slug>` reports on it."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.models import Study
from annotation.raters.services import InviteError, study_invited_names
from annotation.rating.dynamic import pair_rows, votes_saved
from annotation.studies.schemas import StudyOut, StudySpec
from annotation.studies.selectors import rater_figures, study_progress
from annotation.studies.services import StudyError, study_create
from juice.auth import token_required
from juice.http import InputError, api_answer, api_error, input_parse
from juice.openapi import api_operation

# Said when an invitation names an account that does not exist.
CREATE_HINT = ' (invite existing accounts; POST /api/studies/<slug>/invitations with "create": true makes new ones)'


@api_operation("POST", summary="Create a study: its items are matched in the background, and it opens once they are ready",
               body=StudySpec, answers={201: StudyOut},
               errors={400: "an invalid option, an unknown prompt set, system or invited account, or missing videos"})
@require_POST
@token_required
def studies_create(request: HttpRequest) -> JsonResponse:
    try:
        study = study_create(spec=input_parse(StudySpec, request.body), created_by=request.user, background=True)
    except (InputError, StudyError) as exc:
        return api_error(400, str(exc))
    except InviteError as exc:
        return api_error(400, f"{exc}{CREATE_HINT if exc.unknown else ''}")
    return api_answer(study_json(request, study), status=201)


@api_operation("GET", summary="A study: its options, join link, invited accounts, progress, raters and pair states",
               answers={200: StudyOut}, errors={404: "no such study"})
@require_GET
@token_required
def studies_detail(request: HttpRequest, slug: str) -> JsonResponse:
    study = Study.objects.select_related("prompt_set").filter(slug=slug).first()
    if study is None:
        return api_error(404, "no such study")
    return api_answer(study_json(request, study))


def study_json(request: HttpRequest, study: Study) -> StudyOut:
    return StudyOut.model_validate({
        "slug": study.slug,
        "name": study.name,
        "status": study.status,
        "prompt_set": study.prompt_set.name,
        "pairs": [[p.system_a.name, p.system_b.name] for p in study.pairs.select_related("system_a", "system_b")],
        "raters_per_item": study.raters_per_item,
        "questions": study.questions,
        "reasons": study.reasons,
        "allow_tie": study.allow_tie,
        "lease_seconds": study.lease_seconds,
        "completion_code": study.completion_code,
        "instructions": study.instructions,
        "matching": study.matching,
        "attention_items": study.attention_items,
        "attention_threshold": study.attention_threshold,
        "consent": study.consent,
        "qualification": study.qualification or None,
        "min_watch_ms": study.min_watch_ms,
        "completion_url": study.completion_url,
        "screenout_url": study.screenout_url,
        "signed_links": study.signed_links,
        "early_stop": study.early_stop,
        "dynamic": study.dynamic,
        "dynamic_alpha": study.dynamic_alpha,
        "dynamic_ranking": study.dynamic_ranking,
        "seed": study.seed,
        "samples": study.samples,
        "sample_unit": study.sample_unit,
        "join_url": request.build_absolute_uri(reverse("rater-join", args=[study.slug])),
        "invited": study_invited_names(study),
        "progress": study_progress(study=study),
        "votes_saved": votes_saved(study=study) if study.dynamic or study.early_stop else None,
        "pair_states": _pair_states(study) if study.dynamic else None,
        "raters": rater_figures(study=study),
    })


def _pair_states(study: Study) -> list[dict]:
    """Where each pair of a dynamic study stands (annotation/rating/dynamic.py)."""
    return [
        {"pair": [row["pair"].system_a.name, row["pair"].system_b.name], "status": row["pair"].status,
         "settled_at": row["settled_at"].isoformat() if row["settled_at"] else None, "reason": row["reason"],
         **row["pair"].figures}
        for row in pair_rows(study=study)
    ]
