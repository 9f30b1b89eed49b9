"""The systems' JSON API: `GET /api/systems` lists them, `POST /api/systems` adds one (the service
behind the systems page and `add_system`), `POST /api/systems/<name>/videos` imports an external
system's videos."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from generation.models import PromptSet, System
from generation.pipelines.classes import ConfigError
from generation.systems.services import SystemInputError, system_add
from generation.systems.videos import VideoImportError, videos_import
from juice.auth import token_required
from juice.env import TRUE
from juice.http import InputError, api_error, input_parse
from juice.uploads import api_upload


class SystemSpec(BaseModel):
    """A system to add: `add_system`'s options as JSON keys (`params` nested as the command's dotted keys)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    pipeline: StrictStr = ""
    model: StrictStr = ""
    image_model: StrictStr = ""
    image_pipeline: StrictStr = ""
    video_pipeline: StrictStr = ""
    params: dict = Field(default_factory=dict)
    external: StrictBool = False


def system_json(system: System) -> dict:
    return {"name": system.name, "kind": system.kind, "pipeline": system.pipeline, "model": system.model,
            "image_model": system.image_model, "image_pipeline": system.image_pipeline,
            "video_pipeline": system.video_pipeline, "params": system.params}


@token_required
@require_http_methods(["GET", "POST"])
def systems(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return JsonResponse({"systems": [system_json(s) for s in System.objects.order_by("name")]})
    try:
        system = system_add(**input_parse(SystemSpec, request.body).model_dump())
    except (InputError, SystemInputError, ConfigError) as exc:
        return api_error(400, str(exc))
    return JsonResponse(system_json(system), status=201)


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
