"""Researcher pages: create a study, follow its progress and raters, invite accounts, pause or close it."""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from annotation.api_studies import pairs_from_names
from annotation.attention import AttentionError, attention_items_request
from annotation.auth import researcher_required
from annotation.models import DEFAULT_REASONS, QUESTIONS, REASON_KEY, PromptSet, Study
from annotation.progress import rater_figures, study_progress
from annotation.raters import InviteError, study_invite, study_invited_names, study_uninvite, usernames_parse
from annotation.studies import StudyError, study_create, study_status_set
from annotation.views_matching import matching_context


def _reasons_text(question: str) -> str:
    return "\n".join(f"{r['key']}: {r['label']}" for r in DEFAULT_REASONS[question])


def _parse_lines(text: str, pattern: re.Pattern, what: str) -> list[tuple[str, str]]:
    """Non-blank lines matching `pattern` (two groups); a bad line is a form error naming its number."""
    result = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = pattern.match(line.strip())
        if not match:
            raise forms.ValidationError(f"line {number}: expected {what}, got {line.strip()!r}")
        result.append((match.group(1).strip(), match.group(2).strip()))
    return result


PAIR_LINE = re.compile(r"^(.+?)\s*(?:,|\bvs\b)\s*(.+)$")
REASON_LINE = re.compile(rf"^({REASON_KEY})\s*:\s*(.+)$")


class StudyForm(forms.Form):
    name = forms.CharField(max_length=200)
    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.order_by("name"))
    pairs = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="One pair per line: System A, System B")
    raters_per_item = forms.IntegerField(min_value=1, max_value=100, initial=5)
    questions = forms.MultipleChoiceField(choices=[(q, q) for q in QUESTIONS], initial=list(QUESTIONS), widget=forms.CheckboxSelectMultiple)
    quality_reasons = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), initial=_reasons_text("quality"), required=False,
                                      help_text="One reason per line: key: label")
    faithfulness_reasons = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), initial=_reasons_text("faithfulness"),
                                           required=False, help_text="One reason per line: key: label")
    allow_tie = forms.BooleanField(required=False, label="Allow 'no preference'")
    lease_seconds = forms.IntegerField(min_value=10, initial=600, help_text="An unanswered item returns to the pool after this")
    completion_code = forms.CharField(max_length=64, required=False, help_text="Shown to raters at the end; blank for a random one")
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    attention_items = forms.IntegerField(min_value=0, initial=0, help_text="Items with a known answer, added once the videos are ready")
    attention_threshold = forms.FloatField(min_value=0, max_value=1, required=False,
                                           help_text="Raters below this attention pass rate are excluded from the analysis")

    def clean_pairs(self) -> list:
        pairs = _parse_lines(self.cleaned_data["pairs"], PAIR_LINE, "'System A, System B'")
        try:
            return pairs_from_names([list(p) for p in pairs])
        except StudyError as exc:
            raise forms.ValidationError(str(exc)) from None

    def _clean_reasons(self, question: str) -> list[dict]:
        lines = _parse_lines(self.cleaned_data.get(f"{question}_reasons", ""), REASON_LINE, "'key: label'")
        return [{"key": k, "label": v} for k, v in lines]

    def clean_quality_reasons(self) -> list[dict]:
        return self._clean_reasons("quality")

    def clean_faithfulness_reasons(self) -> list[dict]:
        return self._clean_reasons("faithfulness")


@researcher_required
def study_new(request: HttpRequest) -> HttpResponse:
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            study = study_create(
                name=data["name"], prompt_set=data["prompt_set"], pairs=data["pairs"],
                raters_per_item=data["raters_per_item"], questions=data["questions"],
                reasons={q: data[f"{q}_reasons"] for q in QUESTIONS if data[f"{q}_reasons"]},
                allow_tie=data["allow_tie"], lease_seconds=data["lease_seconds"],
                completion_code=data["completion_code"] or None, instructions=data["instructions"],
                attention_items=data["attention_items"], attention_threshold=data["attention_threshold"],
                created_by=request.user,
            )
        except StudyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Study {study.name} created; it opens once its videos are matched.")
            return redirect("study-detail", slug=study.slug)
    return render(request, "annotation/study_new.html", {"form": form})


def _study_page(request: HttpRequest, study: Study, **extra) -> HttpResponse:
    join_url = request.build_absolute_uri(reverse("rater-join", args=[study.slug]))
    return render(
        request,
        "annotation/study_detail.html",
        {
            "study": study,
            "progress": study_progress(study=study),
            "raters": rater_figures(study=study),
            "join_url": join_url + "?worker=WORKER_ID",
            "account_join_url": join_url,
            "invited": study_invited_names(study),
            **matching_context(study),
            **extra,
        },
    )


@researcher_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _study_page(request, get_object_or_404(Study.objects.select_related("prompt_set"), slug=slug))


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
    return _study_page(request, study, created_accounts=invited.created, added=invited.added)


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
