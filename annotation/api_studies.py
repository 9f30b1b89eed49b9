"""The researcher's study JSON API: `POST /api/studies` creates one, `GET /api/studies/<slug>` reports on it,
`POST /api/studies/<slug>/invitations` changes which accounts may join it."""

from __future__ import annotations

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from annotation.auth import api_error, token_required
from annotation.models import QUESTIONS, PromptSet, Study
from annotation.progress import rater_figures, study_progress
from annotation.raters import InviteError, study_invite, study_invited_names, study_uninvite, usernames_normalise
from annotation.studies import StudyError, study_create
from generation.models import System


def pairs_from_names(pairs: object) -> list[tuple[System, System]]:
    """[["A", "B"], ...] as systems; an unknown name or a malformed pair is a StudyError naming it."""
    if not isinstance(pairs, list) or not pairs:
        raise StudyError('pairs must be a non-empty list of ["system A", "system B"]')
    names = {n for p in pairs if isinstance(p, list | tuple) for n in p if isinstance(n, str)}
    systems = {s.name: s for s in System.objects.filter(name__in=names)}
    result = []
    for number, pair in enumerate(pairs, start=1):
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(isinstance(n, str) for n in pair):
            raise StudyError(f"pair {number}: expected two system names")
        unknown = [n for n in pair if n not in systems]
        if unknown:
            raise StudyError(f"pair {number}: no system named {unknown[0]!r}")
        result.append((systems[pair[0]], systems[pair[1]]))
    return result


def study_json(request: HttpRequest, study: Study) -> dict:
    return {
        "slug": study.slug,
        "name": study.name,
        "status": study.status,
        "prompt_set": study.prompt_set.name,
        "pairs": [[p.system_a.name, p.system_b.name] for p in study.pairs.select_related("system_a", "system_b")],
        "raters_per_item": study.raters_per_item,
        "questions": study.questions,
        "reasons": study.reasons,
        "allow_tie": study.allow_tie,
        "lease_seconds": study.lease_seconds,
        "completion_code": study.completion_code,
        "instructions": study.instructions,
        "attention_items": study.attention_items,
        "attention_threshold": study.attention_threshold,
        "join_url": request.build_absolute_uri(reverse("rater-join", args=[study.slug])),
        "invited": study_invited_names(study),
        "progress": study_progress(study=study),
        "raters": rater_figures(study=study),
    }


# JSON field -> (study_create keyword, accepted type); everything but name, prompt_set and pairs is optional.
OPTIONS = {
    "raters": ("raters_per_item", int),
    "questions": ("questions", list),
    "reasons": ("reasons", dict),
    "allow_tie": ("allow_tie", bool),
    "lease_seconds": ("lease_seconds", int),
    "completion_code": ("completion_code", str),
    "instructions": ("instructions", str),
    "attention_items": ("attention_items", int),
    "attention_threshold": ("attention_threshold", float),
}


@require_POST
@token_required
def studies_create(request: HttpRequest) -> JsonResponse:
    try:
        data = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return api_error(400, "the body is not valid JSON")
    if not isinstance(data, dict):
        return api_error(400, "the body must be a JSON object")
    unknown = sorted(set(data) - set(OPTIONS) - {"name", "prompt_set", "pairs", "invite"})
    if unknown:
        return api_error(400, f"unknown field: {', '.join(unknown)}")
    options = {}
    for field, (keyword, kind) in OPTIONS.items():
        if field in data:
            value = data[field]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                return api_error(400, f"{field} must be a {kind.__name__}")
            options[keyword] = value
    if "questions" in options and not all(q in QUESTIONS for q in options["questions"]):
        return api_error(400, f"questions must be among {', '.join(QUESTIONS)}")
    for question, reasons in options.get("reasons", {}).items():
        if not isinstance(reasons, list) or not all(isinstance(r, dict) and isinstance(r.get("label", ""), str) for r in reasons):
            return api_error(400, f'reasons for {question!r} must be a list of {{"key": ..., "label": ...}}')
    prompt_set = PromptSet.objects.filter(name=data.get("prompt_set")).first() if isinstance(data.get("prompt_set"), str) else None
    if prompt_set is None:
        return api_error(400, f"no prompt set named {data.get('prompt_set')!r}")
    invite = data.get("invite", [])
    if not isinstance(invite, list) or not all(isinstance(name, str) for name in invite):
        return api_error(400, "invite must be a list of usernames")
    try:
        # One transaction: a refused invitation leaves no study behind (its matching starts on commit).
        with transaction.atomic():
            study = study_create(
                name=data.get("name") if isinstance(data.get("name"), str) else "",
                prompt_set=prompt_set, pairs=pairs_from_names(data.get("pairs")), created_by=request.user, **options,
            )
            if invite:
                study_invite(study=study, usernames=invite)
    except StudyError as exc:
        return api_error(400, str(exc))
    except InviteError as exc:
        hint = ' (invite existing accounts; POST /api/studies/<slug>/invitations with "create": true makes new ones)'
        return api_error(400, f"{exc}{hint if exc.unknown else ''}")
    return JsonResponse(study_json(request, study), status=201)


@never_cache  # the answer may carry new accounts' passwords
@require_POST
@token_required
def studies_invitations(request: HttpRequest, slug: str) -> JsonResponse:
    """{"add": [usernames], "remove": [usernames], "create": false}: change who may join with an
    account. Answers the invited accounts and, with "create", the passwords of the accounts made."""
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        return api_error(404, "no such study")
    try:
        data = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return api_error(400, "the body is not valid JSON")
    if not isinstance(data, dict) or not set(data) <= {"add", "remove", "create"}:
        return api_error(400, 'the body must be a JSON object with "add", "remove" and "create"')
    lists = {key: data.get(key, []) for key in ("add", "remove")}
    if not all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in lists.values()):
        return api_error(400, "add and remove must be lists of usernames")
    if not isinstance(data.get("create", False), bool):
        return api_error(400, "create must be a bool")
    if not lists["add"] and not lists["remove"]:
        return api_error(400, "name accounts in add or remove")
    both = sorted(set(usernames_normalise(lists["add"])) & set(usernames_normalise(lists["remove"])))
    if both:
        return api_error(400, f"both added and removed: {', '.join(both)}")
    created = {}
    try:
        with transaction.atomic():
            if lists["add"]:
                created = study_invite(study=study, usernames=lists["add"], create=data.get("create", False)).created
            if lists["remove"]:
                study_uninvite(study=study, usernames=lists["remove"])
    except InviteError as exc:
        return api_error(400, str(exc))
    return JsonResponse({"invited": study_invited_names(study), "created": created})


@require_GET
@token_required
def studies_detail(request: HttpRequest, slug: str) -> JsonResponse:
    study = Study.objects.select_related("prompt_set").filter(slug=slug).first()
    if study is None:
        return api_error(404, "no such study")
    return JsonResponse(study_json(request, study))
