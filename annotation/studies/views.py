"""Researcher pages of studies: the home page, create a study, follow its matching, progress and
raters, invite accounts and make join links, pause or close it, add attention items, retry or drop
items whose matching failed."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import quote_etag
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from annotation.models import Item, Study
from annotation.options import study_settings_list
from annotation.raters.services import (
    InviteError,
    JoinError,
    join_links,
    study_invite,
    study_uninvite,
    usernames_parse,
)
from annotation.studies.attention import AttentionError, attention_items_request
from annotation.studies.figures import rater_figures_refresh
from annotation.studies.forms import study_form_class
from annotation.studies.matching import encodes_resend
from annotation.studies.selectors import RATERS_PER_PAGE, matching_summary, reported_items, study_figures, study_items_page
from annotation.studies.services import (
    ItemStateError,
    StudyError,
    item_drop,
    item_rematch,
    item_retry,
    study_create,
    study_status_set,
)
from generation.models import PromptSet, System
from juice.auth import researcher_required
from juice.ranges import ranged_file_response


@login_required
def researcher_home(request: HttpRequest) -> HttpResponse:
    """The researcher's overview; an annotator's account sees the studies it is invited to instead."""
    if not request.user.is_staff:
        # Study names are the researcher's and may name systems: annotators see numbered studies.
        studies = request.user.invited_studies.filter(status__in=[Study.Status.OPEN, Study.Status.PAUSED]).order_by("created_at")
        return render(request, "annotation/annotator_home.html", {"studies": studies})
    return render(
        request,
        "annotation/home.html",
        {
            "prompt_sets": PromptSet.objects.order_by("-created_at"),
            "systems": System.objects.order_by("name"),
            "studies": Study.objects.order_by("-created_at"),
        },
    )


@researcher_required
def study_new(request: HttpRequest) -> HttpResponse:
    form = study_form_class()(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study = study_create(spec=form.spec(), created_by=request.user, background=True)
        except (StudyError, InviteError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Study {study.name} created; it opens once its videos are matched.")
            return redirect("study-detail", slug=study.slug)
    return render(request, "annotation/study_new.html", {"form": form})


def study_page(request: HttpRequest, study: Study, **extra) -> HttpResponse:
    """The study page, with `extra` context (the passwords of accounts just created, say)."""
    figures = _figures(request, study)
    if isinstance(figures, HttpResponse):
        return figures
    join_url = request.build_absolute_uri(reverse("rater-join", args=[study.slug]))
    return render(
        request,
        "annotation/study_detail.html",
        {
            **figures,
            "study": study,
            "settings": study_settings_list(study),
            "join_url": join_url + "?worker=WORKER_ID",
            "account_join_url": join_url,
            "invited": study.invited_names(),
            "reported": reported_items(study=study),
            **matching_summary(study=study),
            **extra,
        },
    )


@researcher_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return study_page(request, get_object_or_404(Study.objects.select_related("prompt_set"), slug=slug))


@require_safe
@researcher_required
def study_live(request: HttpRequest, slug: str) -> HttpResponse:
    """What the study page's live refresh applies (juice/static/juice/live.js): the study's status and the
    text of each cell that moves while raters work, by element id, for the rater page `?page=`."""
    study = get_object_or_404(Study, slug=slug)
    figures = _figures(request, study)
    if isinstance(figures, HttpResponse):
        return figures
    answer = JsonResponse({"status": study.status, "fields": figures["fields"]})
    # Unchanged since the tab's last fetch (the browser revalidates with If-None-Match): 304, no body.
    etag = quote_etag(hashlib.blake2b(answer.content, digest_size=12).hexdigest())
    answer["ETag"] = etag
    patch_cache_control(answer, private=True, no_cache=True)
    return get_conditional_response(request, etag=etag, response=answer)


def _figures(request: HttpRequest, study: Study) -> dict | HttpResponse:
    """The study's moving figures for the rater page the request asks for (a clear 404 for one that is not
    there); rater figures missing or behind the votes are asked of the background."""
    try:
        figures = study_figures(study=study, page=request.GET.get("page"))
    except InvalidPage:
        pages = Paginator(range(study.raters.count()), RATERS_PER_PAGE).num_pages
        return HttpResponseNotFound(f"The rater table has no page {request.GET.get('page')!r}: its pages are 1 to {pages}.",
                                    content_type="text/plain; charset=utf-8")
    if figures["raters"].outdated:
        rater_figures_refresh(study=study)
    return figures


@never_cache  # the answer may carry new accounts' passwords
@require_POST
@researcher_required
def study_invitations(request: HttpRequest, slug: str) -> HttpResponse:
    """Invite accounts (creating the missing ones on request) or withdraw invitations. New accounts'
    passwords are shown in this answer only, never stored or put in a message cookie."""
    study = get_object_or_404(Study.objects.select_related("prompt_set"), slug=slug)
    usernames = usernames_parse(request.POST.get("usernames", ""))
    try:
        if request.POST.get("action") == "remove":
            count = study_uninvite(study=study, usernames=usernames)
            messages.success(request, f"Withdrew {count} invitation(s).")
            return redirect("study-detail", slug=slug)
        invited = study_invite(study=study, usernames=usernames, create=request.POST.get("create") == "on")
    except InviteError as exc:
        messages.error(request, f"{exc}{'; tick “create the accounts” to make them' if exc.unknown else ''}")
        return redirect("study-detail", slug=slug)
    if not invited.created:
        messages.success(request, f"Invited {invited.added} more account(s).")
        return redirect("study-detail", slug=slug)
    return study_page(request, study, created_accounts=invited.created, added=invited.added)


@never_cache
@require_POST
@researcher_required
def study_links(request: HttpRequest, slug: str) -> HttpResponse:
    """Join links for the worker ids pasted on the study page (signed when the study asks), shown there."""
    study = get_object_or_404(Study.objects.select_related("prompt_set"), slug=slug)
    base_url = request.build_absolute_uri(reverse("rater-join", args=[slug]))
    try:
        links = join_links(study=study, worker_ids=usernames_parse(request.POST.get("workers", "")), base_url=base_url)
    except JoinError as exc:
        messages.error(request, str(exc))
        return redirect("study-detail", slug=slug)
    return study_page(request, study, join_links=links)


@require_POST
@researcher_required
def study_status(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    try:
        study_status_set(study=study, status=request.POST.get("status", ""))
    except StudyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The study is now {study.status}.")
    return redirect("study-detail", slug=slug)


@require_POST
@researcher_required
def study_attention(request: HttpRequest, slug: str) -> HttpResponse:
    study = get_object_or_404(Study, slug=slug)
    try:
        count = int(request.POST.get("count", ""))
        attention_items_request(study=study, count=count)
    except ValueError as exc:  # AttentionError is a ValueError, as is a count that is not a number
        messages.error(request, str(exc) if isinstance(exc, AttentionError) else "the count must be a whole number")
    else:
        messages.success(request, f"{count} attention items are being made; reload to see them.")
    return redirect("study-detail", slug=slug)


@researcher_required
def study_items(request: HttpRequest, slug: str) -> HttpResponse:
    """Each item's matched pair side by side as raters see it (synchronised), its target in words."""
    study = get_object_or_404(Study.objects.select_related("prompt_set"), slug=slug)
    page, rows = study_items_page(study=study, page=request.GET.get("page"))
    return render(request, "annotation/study_items.html", {"page": page, "rows": rows, **matching_summary(study=study)})


@require_safe
@researcher_required
def item_video(request: HttpRequest, slug: str, item_id: int, side: str) -> HttpResponse:
    """One side's matched file (researchers only: the URL names the item, so it is not blind)."""
    item = get_object_or_404(Item.objects.select_related("matched_a", "matched_b"), pk=item_id, study__slug=slug)
    matched = {"a": item.matched_a, "b": item.matched_b}.get(side)
    if matched is None or not matched.file:
        raise Http404("this side is not matched yet")
    return ranged_file_response(request, matched.file)


@researcher_required
def study_matching(request: HttpRequest, slug: str) -> HttpResponse:
    """The study's matching: progress, failed items with ffmpeg's error, Retry and Drop."""
    study = get_object_or_404(Study, slug=slug)
    return render(request, "annotation/study_matching.html", matching_summary(study=study))


@researcher_required
@require_POST
def matching_item_retry(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    return _item_action(request, slug, item_id, item_retry, "Item {} queued for matching again.")


@researcher_required
@require_POST
def matching_item_drop(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    return _item_action(request, slug, item_id, item_drop, "Item {} dropped from the study.")


@researcher_required
@require_POST
def reported_item_drop(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Drop an item a rater reported, from the study page."""
    return _item_action(request, slug, item_id, item_drop, "Item {} dropped from the study.", back="study-detail")


@researcher_required
@require_POST
def reported_item_rematch(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Make a reported item's videos again, from the study page."""
    return _item_action(request, slug, item_id, item_rematch, "Item {} is being matched again.", back="study-detail")


@researcher_required
@require_POST
def matching_resend(request: HttpRequest, slug: str) -> HttpResponse:
    """Send again the encodes this study's items have waited on too long (lost in a broker restart, say)."""
    study = get_object_or_404(Study, slug=slug)
    count = encodes_resend(study_id=study.pk)
    messages.success(request, f"Sent {count} encode{'' if count == 1 else 's'} to the media workers again.")
    return redirect("study-matching", slug=slug)


def _item_action(request: HttpRequest, slug: str, item_id: int, action, done: str, back: str = "study-matching") -> HttpResponse:
    item = get_object_or_404(Item, pk=item_id, study__slug=slug)
    try:
        action(item=item)
    except ItemStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(item.pk))
    return redirect(back, slug=slug)
