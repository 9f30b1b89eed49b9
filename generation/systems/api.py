"""The systems' JSON API: `POST /api/systems/<name>/videos` imports an external system's videos."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from generation.models import PromptSet, System
from generation.systems.videos import VideoImportError, videos_import
from juice.auth import token_required
from juice.env import TRUE
from juice.http import api_error
from juice.uploads import api_upload


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
    upload, refused = api_upload(request)
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
