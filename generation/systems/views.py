"""Researcher pages for systems: upload an external system's videos."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from generation.models import PromptSet, System
from generation.systems.videos import VideoImportError, videos_import
from juice.auth import researcher_required
from juice.uploads import form_upload_refused


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
