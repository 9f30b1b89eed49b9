"""The invitations' JSON API: `POST /api/studies/<slug>/invitations` changes which accounts may join."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr

from annotation.models import Study
from annotation.raters.services import InviteError, study_invitations_change, study_invited_names
from juice.auth import token_required
from juice.http import InputError, api_error, input_parse


class InvitationsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[StrictStr] = []
    remove: list[StrictStr] = []
    create: StrictBool = False


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
        change = input_parse(InvitationsChange, request.body)
        invited = study_invitations_change(study=study, add=change.add, remove=change.remove, create=change.create)
    except (InputError, InviteError) as exc:
        return api_error(400, str(exc))
    return JsonResponse({"invited": study_invited_names(study), "created": invited.created})
