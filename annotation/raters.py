"""Raters joining a study: from a crowd platform's link (a worker id in the URL) or as invited accounts."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse

from annotation.models import Rater, Study

# Crowd platforms put the worker id in different parameters; the first one present wins.
WORKER_PARAMS = (("worker", Rater.Source.LINK), ("PROLIFIC_PID", Rater.Source.PROLIFIC), ("workerId", Rater.Source.MTURK))
WORKER_ID = re.compile(r"^[A-Za-z0-9_.@:+-]{1,128}$")


class JoinError(Exception):
    """A join refused; `status` is the HTTP status of the page that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def rater_join(*, study: Study, worker_id: str, source: str = Rater.Source.LINK, user=None) -> Rater:
    """Create this worker's rater for the study, or return the existing one (a worker resumes)."""
    worker_id = (worker_id or "").strip()
    if not WORKER_ID.match(worker_id):
        raise JoinError("The worker id must be 1 to 128 letters, digits or . _ @ : + -.")
    if study.status == Study.Status.PREPARING:
        raise JoinError("This study is not open yet; please try again later.", status=409)
    if study.status == Study.Status.CLOSED:
        raise JoinError("This study is closed.", status=409)
    try:
        with transaction.atomic():
            rater, _ = Rater.objects.get_or_create(study=study, worker_id=worker_id, defaults={"source": source, "user": user})
    except IntegrityError:
        # The same worker joined twice at once; the other request created the row.
        rater = Rater.objects.get(study=study, worker_id=worker_id)
    return rater


def worker_from_request(request: HttpRequest) -> tuple[str, str, object]:
    """(worker id, source, user) from a join URL's parameters, or the invited account logged in."""
    for param, source in WORKER_PARAMS:
        if request.GET.get(param, "").strip():
            return request.GET[param], source, None
    if request.user.is_authenticated:
        return f"user-{request.user.pk}", Rater.Source.INVITED, request.user
    raise JoinError("This join link lacks a worker id (?worker=, PROLIFIC_PID= or workerId=).")


# A rater's identity per study lives in its own signed cookie, not in the database session: the
# annotator API then reads no session row on every request, and researcher logins keep their
# server-side sessions (which logout can revoke).
RATER_COOKIE = "juice_raters"
RATER_COOKIE_SALT = "annotation.raters"


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


def rater_from_session(request: HttpRequest, slug: str) -> Rater | None:
    """The rater this browser joined as in study `slug`, or None: raters exist only per study."""
    rater_id = rater_ids(request).get(slug)
    if rater_id is None:
        return None
    return Rater.objects.select_related("study").filter(pk=rater_id, study__slug=slug).first()
