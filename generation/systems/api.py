"""The systems' JSON API: `GET /api/systems` lists them, `POST /api/systems` adds one (the service
behind the systems page and `add_system`), `POST /api/systems/<name>/videos` imports an external
system's videos."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from generation.models import PromptSet, System
from generation.systems.schemas import SystemOut, SystemsOut, VideosImported, VideosUpload
from generation.systems.services import system_add
from generation.systems.videos import videos_import
from juice.auth import token_required
from juice.env import TRUE
from juice.http import api_answer, form_text, input_parse, refusals_answered
from juice.openapi import api_operation
from juice.refusals import Invalid, NotFound
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


def system_json(system: System) -> SystemOut:
    return SystemOut(name=system.name, kind=system.kind, pipeline=system.pipeline, model=system.model,
                     image_model=system.image_model, image_pipeline=system.image_pipeline,
                     video_pipeline=system.video_pipeline, params=system.params)


@api_operation("GET", summary="Every system, by name", answers={200: SystemsOut})
@api_operation("POST", summary="Add a system (add_system's options as JSON keys)", body=SystemSpec, answers={201: SystemOut},
               errors={400: "an invalid option, an unknown pipeline class or parameter, or a name already taken"})
@token_required
@require_http_methods(["GET", "POST"])
@refusals_answered
def systems(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        return api_answer(SystemsOut(systems=[system_json(s) for s in System.objects.order_by("name")]))
    system = system_add(**input_parse(SystemSpec, request.body).model_dump())
    return api_answer(system_json(system), status=201)


@api_operation("POST", summary="Import an external system's videos for a prompt set; on any error nothing is imported",
               form=VideosUpload, answers={201: VideosImported},
               errors={400: "no file, an unknown prompt set, or a file that is not a decodable video (named)", 404: "no such system",
                       413: "the file is too large"})
@token_required
@require_POST
@refusals_answered
def system_videos(request: HttpRequest, name: str) -> JsonResponse:
    system = System.objects.filter(name=name).first()
    if system is None:
        raise NotFound(f"no system named {name!r}")
    set_name = form_text(request, "prompt_set")
    prompt_set = PromptSet.objects.filter(name=set_name).first()
    if prompt_set is None:
        raise Invalid(f"no prompt set named {set_name!r}; send its name as the field 'prompt_set'")
    upload, refused = api_upload(request)
    if refused:
        return refused
    replace = request.POST.get("replace", "").strip().lower() in TRUE
    videos = videos_import(system=system, prompt_set=prompt_set, source=upload, replace=replace)
    return api_answer(
        VideosImported(
            system=system.name, prompt_set=prompt_set.name, imported=len(videos),
            videos=system.videos.filter(prompt__prompt_set=prompt_set).count(), prompts=prompt_set.prompts.count(),
        ),
        status=201,
    )
