"""Researcher pages for the files users bring: prompt sets and an external system's videos."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from annotation.auth import researcher_required
from annotation.models import PromptSet
from annotation.prompt_import import PromptImportError, prompt_set_import
from generation.models import System
from generation.video_import import VideoImportError, videos_import
from juice.middleware import upload_too_large

PROMPTS_PER_PAGE = 200


class PromptSetUploadForm(forms.Form):
    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text=".csv, .jsonl or .txt; or a .zip of one of them with its images")


class VideoUploadForm(forms.Form):
    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.order_by("name"), to_field_name="name")
    file = forms.FileField(help_text="a .zip of <prompt id>.mp4 (or .webm, .mov, .mkv, .gif) files")
    replace = forms.BooleanField(required=False, help_text="replace videos these prompts already have")


def _too_large(form: forms.Form) -> HttpResponse | None:
    """A file that got past the Content-Length check (a chunked upload) is still held to the limit."""
    message = upload_too_large(form.cleaned_data["file"].size)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8") if message else None


@researcher_required
def prompt_set_upload(request: HttpRequest) -> HttpResponse:
    form = PromptSetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        if refused := _too_large(form):
            return refused
        try:
            prompt_set = prompt_set_import(name=form.cleaned_data["name"], source=form.cleaned_data["file"], created_by=request.user)
        except PromptImportError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, f"Imported {prompt_set.prompts.count()} prompts into {prompt_set.name!r}.")
            return redirect("prompt-set-detail", pk=prompt_set.pk)
    return render(request, "annotation/prompt_set_upload.html", {"form": form}, status=400 if form.errors else 200)


@researcher_required
def prompt_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    prompt_set = get_object_or_404(PromptSet, pk=pk)
    page = Paginator(prompt_set.prompts.order_by("position"), PROMPTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "annotation/prompt_set_detail.html", {"prompt_set": prompt_set, "page": page})


@researcher_required
def system_videos_upload(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_object_or_404(System, pk=pk, kind=System.Kind.EXTERNAL)
    form = VideoUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        if refused := _too_large(form):
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
        request, "annotation/system_videos_upload.html", {"system": system, "form": form, "coverage": coverage},
        status=400 if form.errors else 200,
    )
