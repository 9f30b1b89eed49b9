"""Raters joining a study: from a crowd platform's link (a worker id in the URL) or as invited accounts."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
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


class JoinNeedsLogin(JoinError):
    """No worker id and nobody logged in, to a study that invites accounts: the join page asks to log in."""


class InviteError(ValueError):
    """An invitation refused as a whole (nothing changed); the message names what is wrong, and
    `unknown` the names that have no account (which callers may offer to create)."""

    def __init__(self, message: str, unknown: list[str] | None = None) -> None:
        super().__init__(message)
        self.unknown = unknown or []


@dataclass(frozen=True)
class Invited:
    """What study_invite did: how many accounts it newly invited, and {username: password} of those it created."""

    added: int
    created: dict[str, str]


def usernames_parse(text: str) -> list[str]:
    """Usernames separated by commas, semicolons, spaces or lines (study_invite normalises them)."""
    return [name for name in re.split(r"[\s,;]+", text) if name]


def usernames_normalise(usernames: list[str]) -> list[str]:
    """As create_user stores them (NFKC: a name typed in full-width letters is the same account),
    stripped, once each, in order."""
    User = get_user_model()
    return list(dict.fromkeys(User.normalize_username(name.strip()) for name in usernames if name.strip()))


def study_invite(*, study: Study, usernames: list[str], create: bool = False) -> Invited:
    """Invite these accounts to join `study` without a worker id; all of them or, on an error, none.

    An unknown username is an InviteError unless `create`, which makes it an annotator account
    (not staff) with a random password. The passwords of the accounts created are returned, to be
    shown once: they are stored only hashed.
    """
    User = get_user_model()
    usernames = usernames_normalise(usernames)
    if not usernames:
        raise InviteError("name at least one account to invite")
    created = {}
    try:
        with transaction.atomic():
            users = {u.username: u for u in User.objects.filter(username__in=usernames)}
            unknown = [name for name in usernames if name not in users]
            if unknown and not create:
                raise InviteError(f"no account named {', '.join(map(repr, unknown))}", unknown=unknown)
            already = set(study.invited.filter(pk__in=[u.pk for u in users.values()]).values_list("pk", flat=True))
            for name in unknown:
                try:
                    UnicodeUsernameValidator()(name)
                except ValidationError:
                    raise InviteError(f"{name!r} is not a valid username (letters, digits and @ . + - _ only)") from None
                if len(name) > User._meta.get_field("username").max_length:
                    raise InviteError(f"{name!r} is longer than a username may be")
                password = secrets.token_urlsafe(12)
                users[name] = User.objects.create_user(name, password=password)
                created[name] = password
            study.invited.add(*users.values())
    except IntegrityError:
        # Another request created one of these accounts at the same moment: nothing was kept.
        raise InviteError("one of these accounts was being created at the same moment; send the list again") from None
    return Invited(added=len(users) - len(already), created=created)


def study_uninvite(*, study: Study, usernames: list[str]) -> int:
    """Withdraw these accounts' invitations, all of them or, when one is not invited, none; returns
    how many. An account that has joined keeps its votes and may finish the item it holds, but is
    handed no new one (annotation/assignment.py)."""
    usernames = usernames_normalise(usernames)
    if not usernames:
        raise InviteError("name at least one account whose invitation to withdraw")
    with transaction.atomic():
        accounts = list(study.invited.filter(username__in=usernames))
        missing = sorted(set(usernames) - {a.username for a in accounts})
        if missing:
            raise InviteError(f"not invited to this study: {', '.join(map(repr, missing))}")
        study.invited.remove(*accounts)
    return len(accounts)


def study_invited_names(study: Study) -> list[str]:
    return list(study.invited.order_by("username").values_list("username", flat=True))


def _joinable(study: Study) -> None:
    if study.status == Study.Status.PREPARING:
        raise JoinError("This study is not open yet; please try again later.", status=409)
    if study.status == Study.Status.CLOSED:
        raise JoinError("This study is closed.", status=409)


def account_worker_id(user) -> str:
    """The worker id of an account's rater. A crowd worker id cannot hold "/" (WORKER_ID), so no
    join link can pose as an account, nor take an account's place before it joins."""
    return f"account/{user.pk}"


def rater_join(*, study: Study, worker_id: str = "", source: str = Rater.Source.LINK, user=None) -> Rater:
    """Create this worker's rater for the study, or return the existing one (a worker resumes).
    With `user`, the rater of that account, which must be invited to the study (worker_id unused)."""
    _joinable(study)
    if user is not None:
        if not study.invited.filter(pk=user.pk).exists():
            raise JoinError(
                f"Your account {user.get_username()} is not invited to this study. Ask the researcher to invite it, "
                "or open the link your crowd platform gave you.", status=403,
            )
        worker_id, source = account_worker_id(user), Rater.Source.INVITED
    else:
        worker_id = (worker_id or "").strip()
        if not WORKER_ID.match(worker_id):
            raise JoinError("The worker id must be 1 to 128 letters, digits or . _ @ : + -.")
    try:
        with transaction.atomic():
            rater, _ = Rater.objects.get_or_create(study=study, worker_id=worker_id, defaults={"source": source, "user": user})
    except IntegrityError:
        # The same worker joined twice at once; the other request created the row.
        rater = Rater.objects.get(study=study, worker_id=worker_id)
    if rater.user_id != (user.pk if user is not None else None):
        raise JoinError("This worker id belongs to another rater of this study.", status=403)
    return rater


def worker_from_request(request: HttpRequest, study: Study) -> tuple[str, str, object]:
    """(worker id, source, user) from a join URL's parameters, or the account logged in (rater_join
    checks its invitation). Without either, a study that invites accounts asks to log in."""
    for param, source in WORKER_PARAMS:
        if request.GET.get(param, "").strip():
            return request.GET[param], source, None
    if request.user.is_authenticated:
        return "", Rater.Source.INVITED, request.user
    _joinable(study)  # no point logging in, or finding a worker id, to hear that the study is closed
    if study.invited.exists():
        raise JoinNeedsLogin("Log in with the account you were invited with.", status=401)
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
