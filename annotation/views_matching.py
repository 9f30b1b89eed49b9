"""The researcher's view of a study's matching: progress, failed items with ffmpeg's error, Retry and Drop."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation.auth import researcher_required
from annotation.models import Item, Study
from annotation.studies import ItemStateError, item_drop, item_retry


def matching_context(study: Study) -> dict:
    """What the matching section shows; the study page can include the same template with it."""
    counts = dict.fromkeys(Item.Status.values, 0)
    counts.update(study.items.order_by().values_list("status").annotate(n=Count("pk")))
    failed = study.items.filter(status=Item.Status.FAILED).select_related("prompt", "pair__system_a", "pair__system_b").order_by("pk")
    return {"study": study, "counts": counts, "total": sum(counts.values()), "failed_items": failed}


@researcher_required
def study_matching(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    return render(request, "annotation/study_matching.html", matching_context(study))


@researcher_required
@require_POST
def matching_item_retry(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    return _item_action(request, slug, item_id, item_retry, "Item {} queued for matching again.")


@researcher_required
@require_POST
def matching_item_drop(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    return _item_action(request, slug, item_id, item_drop, "Item {} dropped from the study.")


def _item_action(request: HttpRequest, slug: str, item_id: int, action, done: str) -> HttpResponse:
    item = get_object_or_404(Item, pk=item_id, study__slug=slug)
    try:
        action(item=item)
    except ItemStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(item.pk))
    return redirect("study-matching", slug=slug)
