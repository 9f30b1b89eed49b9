"""Researcher pages for systems: list them, add a generated or an external one, upload an external system's
videos, play a source video."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_safe

from generation.models import PromptSet, System, Video
from generation.pipelines.classes import ConfigError
from generation.pipelines.config import SUPPORTED_PIPELINES, params_lines, params_parse
from generation.systems.services import SystemInputError, system_add
from generation.systems.videos import VideoImportError, videos_import
from juice.auth import researcher_required
from juice.ranges import ranged_file_response
from juice.uploads import form_upload_refused


class SystemForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="how reports and the votes CSV name it; raters never see it")
    kind = forms.ChoiceField(choices=[("generated", "generated here by a diffusers pipeline"),
                                      ("external", "external: its videos are uploaded")],
                             initial="generated", widget=forms.RadioSelect)
    pipeline = forms.ChoiceField(choices=[("", "—")] + [(c, c) for c in SUPPORTED_PIPELINES], required=False,
                                 help_text="factorized: a text-to-image model's image animated by an image-to-video model")
    model = forms.CharField(max_length=500, required=False, help_text="a local checkpoint directory or a hub id (the video model)")
    image_model = forms.CharField(max_length=500, required=False, help_text="factorized only: the text-to-image model")
    params = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 40}), required=False,
                             help_text="one KEY=VALUE per line: the pipeline's call arguments (num_frames, height, width, "
                                       "num_inference_steps, ...), fps, dtype, seed")

    def system_add(self) -> System:
        """Add the system the valid form describes, through the service `add_system` uses (same checks, same messages)."""
        data = self.cleaned_data
        external = data["kind"] == "external"
        lines = [line.strip() for line in data["params"].splitlines() if line.strip()]
        return system_add(name=data["name"], pipeline=data["pipeline"], model=data["model"].strip(),
                          image_model=data["image_model"].strip(), params=params_parse(lines), external=external)


@researcher_required
def system_list(request: HttpRequest) -> HttpResponse:
    form = SystemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            system = form.system_add()
        except (SystemInputError, ConfigError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Added system {system.name}.")
            if system.kind == System.Kind.EXTERNAL:
                return redirect("system-videos-upload", pk=system.pk)
            return redirect("systems")
    systems = [(s, params_lines(s.params)) for s in System.objects.annotate(video_count=Count("videos")).order_by("name")]
    return render(request, "generation/systems.html", {"form": form, "systems": systems}, status=400 if form.errors else 200)


class VideoUploadForm(forms.Form):
    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.order_by("name"), to_field_name="name")
    file = forms.FileField(help_text="a .zip of <prompt id>.mp4 (or .webm, .mov, .mkv, .gif) files")
    replace = forms.BooleanField(required=False, help_text="replace videos these prompts already have")


@researcher_required
def system_videos_upload(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_object_or_404(System, pk=pk, kind=System.Kind.EXTERNAL)
    form = VideoUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        if refused := form_upload_refused(form):
            return refused
        prompt_set = form.cleaned_data["prompt_set"]
        try:
            videos = videos_import(
                system=system, prompt_set=prompt_set, source=form.cleaned_data["file"], replace=form.cleaned_data["replace"]
            )
        except VideoImportError as exc:
            form.add_error("file", str(exc))
        else:
            count = f"{len(videos)} video{'' if len(videos) == 1 else 's'}"
            messages.success(request, f"Imported {count} of {system.name!r} for prompt set {prompt_set.name!r}.")
            return redirect("system-videos-upload", pk=system.pk)
    coverage = [
        (ps, system.videos.filter(prompt__prompt_set=ps).count(), ps.prompts.count()) for ps in PromptSet.objects.order_by("name")
    ]
    return render(
        request, "generation/system_videos_upload.html", {"system": system, "form": form, "coverage": coverage},
        status=400 if form.errors else 200,
    )


# Source videos keep the container they were uploaded in.
CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime", "mkv": "video/x-matroska", "gif": "image/gif"}


@require_safe
@researcher_required
def video_file(request: HttpRequest, video_id: int) -> HttpResponse:
    """A system's source video, for the media browser (researchers only: it is not blind)."""
    video = get_object_or_404(Video, pk=video_id)
    extension = video.file.name.rsplit(".", 1)[-1].lower()
    return ranged_file_response(request, video.file, CONTENT_TYPES.get(extension, "application/octet-stream"))
