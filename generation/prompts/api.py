"""The prompt sets' JSON API: `GET/POST /api/prompt-sets`, `GET /api/prompt-sets/<name>`."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from generation.models import PromptSet
from generation.prompts.importing import prompt_set_import
from generation.prompts.schemas import PromptSetCreated, PromptSetOut, PromptSetsOut, PromptSetUpload
from juice.auth import token_required
from juice.http import api_answer, form_text, refusals_answered
from juice.openapi import api_operation
from juice.refusals import NotFound
from juice.uploads import api_upload


@api_operation("GET", summary="Every prompt set: name, prompt count, when it was imported", answers={200: PromptSetsOut})
@api_operation("POST", summary="Import a prompt set from a file; on any error nothing is imported", form=PromptSetUpload,
               answers={201: PromptSetCreated}, errors={400: "no file, or an error in it (naming the line)", 413: "the file is too large"})
@token_required
@require_http_methods(["GET", "POST"])
@refusals_answered
def prompt_sets(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _prompt_set_create(request)
    rows = PromptSet.objects.annotate(count=Count("prompts")).order_by("name")
    return api_answer(PromptSetsOut(
        prompt_sets=[{"name": ps.name, "count": ps.count, "created_at": ps.created_at.isoformat()} for ps in rows]
    ))


def _prompt_set_create(request: HttpRequest) -> JsonResponse:
    upload, refused = api_upload(request)
    if refused:
        return refused
    prompt_set = prompt_set_import(name=form_text(request, "name"), source=upload, created_by=request.user)
    ids = list(prompt_set.prompts.order_by("position").values_list("key", flat=True))
    return api_answer(PromptSetCreated(name=prompt_set.name, count=len(ids), ids=ids), status=201)


@api_operation("GET", summary="A prompt set with its prompts", answers={200: PromptSetOut}, errors={404: "no such prompt set"})
@token_required
@require_GET
@refusals_answered
def prompt_set_detail(request: HttpRequest, name: str) -> JsonResponse:
    prompt_set = PromptSet.objects.filter(name=name).first()
    if prompt_set is None:
        raise NotFound(f"no prompt set named {name!r}")
    prompts = [
        {"id": p.key, "text": p.text, "category": p.category, "has_image": bool(p.image)}
        for p in prompt_set.prompts.order_by("position")
    ]
    return api_answer(PromptSetOut(
        name=prompt_set.name, count=len(prompts), source=prompt_set.source_name,
        created_at=prompt_set.created_at.isoformat(), prompts=prompts,
    ))
