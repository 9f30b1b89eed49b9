"""The studies' JSON API: `POST /api/studies` creates one, `GET /api/studies/<slug>` reports on it."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.models import Study
from annotation.options import output_options
from annotation.raters.services import InviteError
from annotation.rating.dynamic import pair_rows, votes_saved
from annotation.studies.schemas import StudyOut, StudyOutBase, StudySpec, study_out_model, study_spec_model
from annotation.studies.selectors import rater_figures, study_progress
from annotation.studies.services import study_create
from juice.auth import token_required
from juice.http import api_answer, input_parse, refusals_answered
from juice.openapi import api_operation
from juice.refusals import NotFound

# Said when an invitation names an account that does not exist.
CREATE_HINT = ' (invite existing accounts; POST /api/studies/<slug>/invitations with "create": true makes new ones)'


@api_operation("POST", summary="Create a study: its items are matched in the background, and it opens once they are ready",
               body=StudySpec, answers={201: StudyOut},
               errors={400: "an invalid option, an unknown prompt set, system or invited account, or missing videos"})
@require_POST
@token_required
@refusals_answered
def studies_create(request: HttpRequest) -> JsonResponse:
    spec = input_parse(study_spec_model(), request.body)
    try:
        study = study_create(spec=spec, created_by=request.user, background=True)
    except InviteError as exc:
        if not exc.unknown:
            raise
        raise InviteError(f"{exc}{CREATE_HINT}", exc.unknown) from None
    return api_answer(study_json(request, study), status=201)


@api_operation("GET", summary="A study: its options, join link, invited accounts, progress, raters and pair states",
               answers={200: StudyOut}, errors={404: "no such study"})
@require_GET
@token_required
@refusals_answered
def studies_detail(request: HttpRequest, slug: str) -> JsonResponse:
    study = Study.objects.select_related("prompt_set").filter(slug=slug).first()
    if study is None:
        raise NotFound("no such study")
    return api_answer(study_json(request, study))


def study_json(request: HttpRequest, study: Study) -> StudyOutBase:
    """The study as the API answers it: its declared options (annotation/options.py) and how far it has come."""
    return study_out_model().model_validate({
        "slug": study.slug,
        "name": study.name,
        "status": study.status,
        "prompt_set": study.prompt_set.name,
        "pairs": [[p.system_a.name, p.system_b.name] for p in study.pairs.select_related("system_a", "system_b")],
        **output_options(study),
        "join_url": request.build_absolute_uri(reverse("rater-join", args=[study.slug])),
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
