"""Who may join, through the JSON API: `POST /api/studies/<slug>/invitations` changes which accounts may
join; `POST /api/studies/<slug>/links` makes crowd workers' join links (signed when the study asks)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from annotation.models import Study
from annotation.raters.schemas import InvitationsOut, LinksOut
from annotation.raters.services import join_links, study_invitations_change
from juice.auth import token_required
from juice.http import api_answer, input_parse, refusals_answered
from juice.openapi import api_operation
from juice.refusals import NotFound


class InvitationsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[StrictStr] = []
    remove: list[StrictStr] = []
    create: StrictBool = False


@api_operation("POST", summary="Change which accounts may join the study (`create` makes missing ones)", body=InvitationsChange,
               answers={200: InvitationsOut}, errors={400: "a bad body, or an unknown account without `create`", 404: "no such study"})
@never_cache  # the answer may carry new accounts' passwords
@require_POST
@token_required
@refusals_answered
def studies_invitations(request: HttpRequest, slug: str) -> JsonResponse:
    """{"add": [usernames], "remove": [usernames], "create": false}: change who may join with an
    account. Answers the invited accounts and, with "create", the passwords of the accounts made."""
    study = _study(slug)
    change = input_parse(InvitationsChange, request.body)
    invited = study_invitations_change(study=study, add=change.add, remove=change.remove, create=change.create)
    return api_answer(InvitationsOut(invited=study.invited_names(), created=invited.created))


class LinksRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers: list[StrictStr] = Field(min_length=1, max_length=100_000)


@api_operation("POST", summary="Crowd workers' join links, signed when the study wants signed links", body=LinksRequest,
               answers={200: LinksOut}, errors={400: "a bad body or worker id", 404: "no such study"})
@never_cache
@require_POST
@token_required
@refusals_answered
def studies_links(request: HttpRequest, slug: str) -> JsonResponse:
    """{"workers": [worker ids]}: answers {"links": {worker id: join link}}, each carrying `sig` when
    the study wants signed links."""
    study = _study(slug)
    wanted = input_parse(LinksRequest, request.body)
    links = join_links(study=study, worker_ids=wanted.workers, base_url=request.build_absolute_uri(reverse("rater-join", args=[slug])))
    return api_answer(LinksOut(signed=study.signed_links, links=links))


def _study(slug: str) -> Study:
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise NotFound("no such study")
    return study
