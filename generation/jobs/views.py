"""Researcher pages of the generation service: start generation, progress per system (updating
itself), failed jobs grouped by error with Retry and Cancel, a factorized video's first frame."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from generation.jobs.progress import generation_progress
from generation.jobs.queueing import CANCELLABLE, MAX_SAMPLES, JobError, generation_queue, jobs_cancel, jobs_retry
from generation.models import GenerationJob, PromptSet, System, Video
from juice.auth import researcher_required


class GenerateForm(forms.Form):
    system = forms.ModelChoiceField(queryset=System.objects.filter(kind=System.Kind.GENERATED).order_by("name"), to_field_name="name")
    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.order_by("name"), to_field_name="name")
    seed = forms.IntegerField(required=False, help_text="base seed (a video's seed is this plus its prompt's position); "
                                                         "blank: the system's")
    samples = forms.IntegerField(required=False, min_value=1, max_value=MAX_SAMPLES, initial=1,
                                 help_text="videos per prompt, each with its own seed (sample k adds k * 1,000,000); blank: 1")


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
    form = GenerateForm(initial={"prompt_set": prompt_set.name if prompt_set else None})
    return render(
        request,
        "generation/status.html",
        {"progress": progress, "prompt_set": prompt_set, "prompt_sets": PromptSet.objects.order_by("name"),
         "first_frames": first_frames, "form": form, "active": any(not p.finished for p in progress)},
    )


@require_POST
@researcher_required
def generation_start(request: HttpRequest) -> HttpResponse:
    form = GenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
        return redirect("generation-status")
    system, prompt_set = form.cleaned_data["system"], form.cleaned_data["prompt_set"]
    try:
        queued = generation_queue(system=system, prompt_set=prompt_set, seed=form.cleaned_data["seed"],
                                  samples=form.cleaned_data["samples"] or 1)
    except JobError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{system.name}: queued {queued.queued} job(s), skipped {queued.skipped} already generated or running.")
    return redirect(reverse("generation-status") + f"?prompt_set={prompt_set.name}")


def _job_action(request: HttpRequest, pk: int) -> tuple[System, PromptSet | None, int | None, str]:
    """The system, the prompt set shown, and what the button names: one job's id, or 'failed' or 'pending'."""
    system = get_object_or_404(System, pk=pk, kind=System.Kind.GENERATED)
    prompt_set = get_object_or_404(PromptSet, name=request.POST["prompt_set"]) if request.POST.get("prompt_set") else None
    target = request.POST.get("job", "failed")
    if target in ("failed", "pending"):
        return system, prompt_set, None, target
    if not target.isdigit():
        raise Http404("no such job")
    return system, prompt_set, get_object_or_404(GenerationJob, pk=int(target), system=system).pk, "job"


def _back(prompt_set: PromptSet | None) -> HttpResponse:
    return redirect(reverse("generation-status") + (f"?prompt_set={prompt_set.name}" if prompt_set else ""))


@require_POST
@researcher_required
def jobs_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    system, prompt_set, job_id, _ = _job_action(request, pk)
    count = jobs_retry(system=system, prompt_set=prompt_set, job_id=job_id)
    messages.success(request, f"{system.name}: {count} failed job(s) queued again.")
    return _back(prompt_set)


@require_POST
@researcher_required
def jobs_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    system, prompt_set, job_id, target = _job_action(request, pk)
    statuses = {"failed": (GenerationJob.Status.FAILED,), "pending": (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)}
    count = jobs_cancel(system=system, prompt_set=prompt_set, job_id=job_id, statuses=statuses.get(target, CANCELLABLE))
    messages.success(request, f"{system.name}: {count} job(s) cancelled; generating the prompt set again starts them over.")
    return _back(prompt_set)


@researcher_required
def video_first_frame(request: HttpRequest, video_id: int) -> FileResponse:
    """The intermediate image a factorized system animated (researchers only: it names no system, but it is not blind)."""
    video = get_object_or_404(Video, pk=video_id)
    if not video.first_frame:
        raise Http404("this video has no intermediate first frame")
    return FileResponse(video.first_frame.open("rb"), content_type="image/png")
