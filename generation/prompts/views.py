"""Researcher pages for prompt sets: list them, upload one, read its prompts, browse their videos."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from generation.models import PromptSet
from generation.prompts.importing import PromptImportError, prompt_set_import
from generation.prompts.media import prompt_set_media
from juice.auth import researcher_required
from juice.uploads import form_upload_refused

PROMPTS_PER_PAGE = 200


class PromptSetUploadForm(forms.Form):
    name = forms.CharField(max_length=200)
    file = forms.FileField(help_text=".csv, .jsonl or .txt; or a .zip of one of them with its images")


@researcher_required
def prompt_set_upload(request: HttpRequest) -> HttpResponse:
    form = PromptSetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        if refused := form_upload_refused(form):
            return refused
        try:
            prompt_set = prompt_set_import(name=form.cleaned_data["name"], source=form.cleaned_data["file"], created_by=request.user)
        except PromptImportError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, f"Imported {prompt_set.prompts.count()} prompts into {prompt_set.name!r}.")
            return redirect("prompt-set-detail", pk=prompt_set.pk)
    return render(request, "generation/prompt_set_upload.html", {"form": form}, status=400 if form.errors else 200)


@researcher_required
def prompt_set_list(request: HttpRequest) -> HttpResponse:
    prompt_sets = PromptSet.objects.annotate(prompt_count=Count("prompts")).order_by("name")
    return render(request, "generation/prompt_set_list.html", {"prompt_sets": prompt_sets})


@researcher_required
def prompt_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    prompt_set = get_object_or_404(PromptSet, pk=pk)
    page = Paginator(prompt_set.prompts.order_by("position"), PROMPTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "generation/prompt_set_detail.html", {"prompt_set": prompt_set, "page": page})


@researcher_required
def prompt_set_media_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The media browser: each prompt with every system's video, its probed format and seed, and the
    first frame a factorized system animated."""
    prompt_set = get_object_or_404(PromptSet, pk=pk)
    media = prompt_set_media(prompt_set=prompt_set, page=request.GET.get("page"))
    return render(request, "generation/prompt_set_media.html", {"prompt_set": prompt_set, "media": media})
