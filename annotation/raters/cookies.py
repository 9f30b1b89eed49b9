"""Which raters this browser is, per study: a signed cookie, not a database session.

The annotator API then reads no session row on every request, and researcher logins keep their
server-side sessions (which logout can revoke).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from annotation.models import Rater
from juice.openapi import Credential

RATER_COOKIE = "juice_raters"
RATER_COOKIE_SALT = "annotation.raters"
# The annotator API's credential, as its OpenAPI document names it.
RATER = Credential("raterCookie", {
    "type": "apiKey", "in": "cookie", "name": RATER_COOKIE,
    "description": "set by the study's join link (/s/<study>/join?worker=<id>): which rater this browser is, per study",
})

# The value is "slug-id.slug-id": only characters a cookie carries unquoted. A quoted value (JSON,
# say) is mangled by some HTTP clients' cookie jars, whose raters would then fail the signature.
JOINED = re.compile(r"^([0-9A-Za-z_]+)-([0-9]+)$")


def rater_ids(request: HttpRequest) -> dict[str, int]:
    """{study slug: rater id} this browser joined as, from the signed cookie; {} when absent or forged."""
    raw = request.get_signed_cookie(RATER_COOKIE, default=None, salt=RATER_COOKIE_SALT, max_age=settings.SESSION_COOKIE_AGE)
    if not raw:
        return {}
    pairs = [JOINED.match(part) for part in raw.split(".")]
    return {m[1]: int(m[2]) for m in pairs if m}


def rater_cookie_set(response: HttpResponse, request: HttpRequest, *, slug: str, rater: Rater) -> None:
    """Remember on this browser that it rates study `slug` as `rater`, next to its other studies."""
    joined = {**rater_ids(request), slug: rater.pk}
    response.set_signed_cookie(
        RATER_COOKIE, ".".join(f"{s}-{pk}" for s, pk in joined.items()), salt=RATER_COOKIE_SALT,
        max_age=settings.SESSION_COOKIE_AGE, httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE,
    )


def rater_from_cookie(request: HttpRequest, slug: str) -> Rater | None:
    """The rater this browser joined as in study `slug`, or None: raters exist only per study."""
    rater_id = rater_ids(request).get(slug)
    if rater_id is None:
        return None
    return Rater.objects.select_related("study").filter(pk=rater_id, study__slug=slug).first()
