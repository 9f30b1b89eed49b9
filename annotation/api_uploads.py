"""JSON API for the files researchers bring: prompt sets and external systems' videos."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.auth import api_error, token_required
from annotation.models import PromptSet
from annotation.prompt_import import PromptImportError, prompt_set_import
from generation.models import System
from generation.video_import import VideoImportError, videos_import
from juice.middleware import upload_too_large

TRUE = {"1", "true", "yes", "on"}


def _upload(request: HttpRequest) -> tuple[object | None, JsonResponse | None]:
    upload = request.FILES.get("file")
    if upload is None:
        return None, api_error(400, "send the file as the multipart field 'file'")
    if message := upload_too_large(upload.size):
        return None, api_error(413, message)
    return upload, None


@token_required
@require_http_methods(["GET", "POST"])
def prompt_sets(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _prompt_set_create(request)
    rows = PromptSet.objects.annotate(count=Count("prompts")).order_by("name")
    return JsonResponse(
        {"prompt_sets": [{"name": ps.name, "count": ps.count, "created_at": ps.created_at.isoformat()} for ps in rows]}
    )


def _prompt_set_create(request: HttpRequest) -> JsonResponse:
    upload, refused = _upload(request)
    if refused:
        return refused
    try:
        prompt_set = prompt_set_import(name=request.POST.get("name", ""), source=upload, created_by=request.user)
    except PromptImportError as exc:
        return api_error(400, str(exc))
    ids = list(prompt_set.prompts.order_by("position").values_list("key", flat=True))
    return JsonResponse({"name": prompt_set.name, "count": len(ids), "ids": ids}, status=201)


@token_required
@require_GET
def prompt_set_detail(request: HttpRequest, name: str) -> JsonResponse:
    prompt_set = PromptSet.objects.filter(name=name).first()
    if prompt_set is None:
        return api_error(404, f"no prompt set named {name!r}")
    prompts = [
        {"id": p.key, "text": p.text, "category": p.category, "has_image": bool(p.image)}
        for p in prompt_set.prompts.order_by("position")
    ]
    return JsonResponse(
        {
            "name": prompt_set.name, "count": len(prompts), "source": prompt_set.source_name,
            "created_at": prompt_set.created_at.isoformat(), "prompts": prompts,
        }
    )


@token_required
@require_POST
def system_videos(request: HttpRequest, name: str) -> JsonResponse:
    system = System.objects.filter(name=name).first()
    if system is None:
        return api_error(404, f"no system named {name!r}")
    set_name = request.POST.get("prompt_set", "")
    prompt_set = PromptSet.objects.filter(name=set_name).first()
    if prompt_set is None:
        return api_error(400, f"no prompt set named {set_name!r}; send its name as the field 'prompt_set'")
    upload, refused = _upload(request)
    if refused:
        return refused
    replace = request.POST.get("replace", "").strip().lower() in TRUE
    try:
        videos = videos_import(system=system, prompt_set=prompt_set, source=upload, replace=replace)
    except VideoImportError as exc:
        return api_error(400, str(exc))
    return JsonResponse(
        {
            "system": system.name, "prompt_set": prompt_set.name, "imported": len(videos),
            "videos": system.videos.filter(prompt__prompt_set=prompt_set).count(), "prompts": prompt_set.prompts.count(),
        },
        status=201,
    )
