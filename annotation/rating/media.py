"""Serving matched videos under opaque per-study tokens, with HTTP Range support so browsers can seek
(juice/ranges.py). Production serves the same files from nginx or object storage."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from annotation.models import Item, Study
from juice.ranges import ranged_file_response


def item_side_file(study_slug: str, token: str):
    """The matched file behind `token` in this study, or 404: a token of another study is unknown here."""
    item = (
        Item.objects.select_related("matched_a", "matched_b")
        .filter(Q(token_a=token) | Q(token_b=token), study__slug=study_slug, status=Item.Status.READY)
        .exclude(study__status=Study.Status.PREPARING)
        .first()
    )
    if item is None:
        raise Http404("no such video")
    matched = item.matched_a if item.token_a == token else item.matched_b
    if matched is None or not matched.file:
        raise Http404("no such video")
    return matched.file


@require_safe
def study_video(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    return ranged_file_response(request, item_side_file(slug, token))
