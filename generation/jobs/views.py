"""Researcher pages of the generation service: progress per system, a factorized video's first frame."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from generation.jobs.services import generation_progress
from generation.models import PromptSet, System, Video
from juice.auth import researcher_required


@researcher_required
def generation_status(request: HttpRequest) -> HttpResponse:
    prompt_set = None
    if request.GET.get("prompt_set"):
        prompt_set = get_object_or_404(PromptSet, name=request.GET["prompt_set"])
    progress = generation_progress(prompt_set=prompt_set)
    first_frames = (
        Video.objects.filter(system__kind=System.Kind.GENERATED, system__pipeline="factorized")
        .exclude(first_frame="")
        .select_related("system", "prompt")
        .order_by("system__name", "prompt__prompt_set__name", "prompt__position")
    )
    if prompt_set is not None:
        first_frames = first_frames.filter(prompt__prompt_set=prompt_set)
    return render(
        request,
        "generation/status.html",
        {"progress": progress, "prompt_set": prompt_set, "prompt_sets": PromptSet.objects.order_by("name"), "first_frames": first_frames},
    )


@researcher_required
def video_first_frame(request: HttpRequest, video_id: int) -> FileResponse:
    """The intermediate image a factorized system animated (researchers only: it names no system, but it is not blind)."""
    video = get_object_or_404(Video, pk=video_id)
    if not video.first_frame:
        raise Http404("this video has no intermediate first frame")
    return FileResponse(video.first_frame.open("rb"), content_type="image/png")
