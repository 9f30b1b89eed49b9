"""Raters joining a study: from a crowd platform's link (a worker id in the URL) or as invited accounts."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Rater, Study
from annotation.raters.order import rater_order
from juice.refusals import Conflict, Forbidden, Invalid, Refused, echoed, echoed_names

# Crowd platforms' ids are letters and digits (Prolific, MTurk); a few separators are allowed. Never a
# first character a spreadsheet would read as a formula (= + - @), and never "/" (account ids).
WORKER_ID = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,127}$")
# A second join of a worker id this soon after the first is the same click twice (the first answer's
# cookie not yet stored), not another browser.
JOIN_GRACE_SECONDS = 10
BAD_WORKER_ID = "The worker id must be 1 to 128 letters, digits or . _ @ -, starting with a letter, a digit, . or _."


class JoinError(Refused):
    """A join refused; the message says why, and the join page shows it."""


class JoinInvalid(JoinError, Invalid):
    """A join link without a usable worker id."""


class JoinForbidden(JoinError, Forbidden):
    """A worker id or account that may not join as asked (not invited, a forged link, another browser's rater)."""


class JoinClosed(JoinError, Conflict):
    """A study that takes no raters now (not open yet, or closed)."""


class JoinNeedsLogin(JoinForbidden):
    """No worker id and nobody logged in, to a study that invites accounts: the join page asks to log in."""


class InviteError(Invalid):
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
                raise InviteError(f"no account named {echoed_names(unknown)}", unknown=unknown)
            already = set(study.invited.filter(pk__in=[u.pk for u in users.values()]).values_list("pk", flat=True))
            for name in unknown:
                try:
                    UnicodeUsernameValidator()(name)
                except ValidationError:
                    raise InviteError(f"{echoed(name)!r} is not a valid username (letters, digits and @ . + - _ only)") from None
                if len(name) > User._meta.get_field("username").max_length:
                    raise InviteError(f"{echoed(name)!r} is longer than a username may be")
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
    handed no new one (WELCOME in annotation/rating/rules.py)."""
    usernames = usernames_normalise(usernames)
    if not usernames:
        raise InviteError("name at least one account whose invitation to withdraw")
    with transaction.atomic():
        accounts = list(study.invited.filter(username__in=usernames))
        missing = sorted(set(usernames) - {a.username for a in accounts})
        if missing:
            raise InviteError(f"not invited to this study: {echoed_names(missing)}")
        study.invited.remove(*accounts)
    return len(accounts)


def _joinable(study: Study) -> None:
    if study.status == Study.Status.PREPARING:
        raise JoinClosed("This study is not open yet; please try again later.")
    if study.status == Study.Status.CLOSED:
        raise JoinClosed("This study is closed.")


def account_worker_id(user) -> str:
    """The worker id of an account's rater. A crowd worker id cannot hold "/" (WORKER_ID), so no
    join link can pose as an account, nor take an account's place before it joins."""
    return f"account/{user.pk}"


def join_signature(*, study: Study, worker_id: str) -> str:
    """The `sig` of a signed join link: an HMAC-SHA256 of the worker id under the study's own secret, in hex."""
    return hmac.new(study.link_secret.encode(), worker_id.encode(), hashlib.sha256).hexdigest()


def join_links(*, study: Study, worker_ids: list[str], base_url: str) -> dict[str, str]:
    """{worker id: join link} for these workers (signed when the study asks for signed links), each
    link `base_url` (the study's join URL) with `worker=` and, when signed, `sig=`."""
    links = {}
    for worker_id in dict.fromkeys(w.strip() for w in worker_ids if w.strip()):
        if not WORKER_ID.match(worker_id):
            raise JoinInvalid(f"{echoed(worker_id)!r}: {BAD_WORKER_ID}")
        query = {"worker": worker_id, **({"sig": join_signature(study=study, worker_id=worker_id)} if study.signed_links else {})}
        links[worker_id] = f"{base_url}?{urlencode(query)}"
    return links


def _signed(study: Study, worker_id: str, sig: str) -> None:
    if study.signed_links and not hmac.compare_digest(sig.encode(), join_signature(study=study, worker_id=worker_id).encode()):
        raise JoinForbidden("This join link is not valid: open the exact link your crowd platform gave you.")


def rater_join(*, study: Study, worker_id: str = "", source: str = Rater.Source.LINK, user=None, sig: str = "",
               joined_as: int | None = None) -> Rater:
    """Create this worker's rater for the study, or return the existing one (a worker resumes), only
    in the browser that first joined with that worker id: `joined_as` is the rater this browser joined
    the study as (its cookie), and any other browser is refused (403). A study with signed links
    wants `sig` (join_signature). With `user`, the rater of that account, which must be invited to the
    study (worker_id unused). With neither, a study that invites accounts asks to log in (JoinNeedsLogin)."""
    _joinable(study)
    worker_id = (worker_id or "").strip()
    if user is not None:
        if not study.invited.filter(pk=user.pk).exists():
            raise JoinForbidden(
                f"Your account {user.get_username()} is not invited to this study. Ask the researcher to invite it, "
                "or open the link your crowd platform gave you."
            )
        worker_id, source = account_worker_id(user), Rater.Source.INVITED
    elif not worker_id and study.invited.exists():
        raise JoinNeedsLogin("Log in with the account you were invited with.")
    elif not worker_id:
        raise JoinInvalid("This join link lacks a worker id (?worker=, PROLIFIC_PID= or workerId=).")
    elif not WORKER_ID.match(worker_id):
        raise JoinInvalid(BAD_WORKER_ID)
    else:
        _signed(study, worker_id, sig)
    created = False
    try:
        with transaction.atomic():
            order_a, order_b = rater_order(seed=study.seed, worker_id=worker_id)
            rater, created = Rater.objects.get_or_create(
                study=study, worker_id=worker_id,
                defaults={"source": source, "user": user, "order_a": order_a, "order_b": order_b, "admitted": not study.qualification},
            )
    except IntegrityError:
        # The same worker joined twice at once; the other request created the row (and holds it).
        rater = Rater.objects.get(study=study, worker_id=worker_id)
    if rater.user_id != (user.pk if user is not None else None):
        raise JoinForbidden("This worker id belongs to another rater of this study.")
    fresh = timezone.now() - rater.created_at < timedelta(seconds=JOIN_GRACE_SECONDS)
    if user is None and not created and rater.pk != joined_as and not fresh:
        # Whoever learns a worker id must not take over that worker's assignments and votes.
        raise JoinForbidden("This worker id has already joined this study from another browser. Please continue in the "
                            "browser where you started, or contact the researcher.")
    return rater


@transaction.atomic
def study_invitations_change(*, study: Study, add: list[str], remove: list[str], create: bool = False) -> Invited:
    """Invite `add` (creating missing accounts with `create`) and withdraw `remove`, all of it or, on an
    error, none; a name in both lists is an error."""
    if not add and not remove:
        raise InviteError("name accounts in add or remove")
    both = sorted(set(usernames_normalise(add)) & set(usernames_normalise(remove)))
    if both:
        raise InviteError(f"both added and removed: {', '.join(both)}")
    invited = study_invite(study=study, usernames=add, create=create) if add else Invited(added=0, created={})
    if remove:
        study_uninvite(study=study, usernames=remove)
    return invited


def rater_consent(*, rater: Rater) -> Rater:
    """Record that the rater read the study's instructions and agreed to its consent text (once: the
    first time counts)."""
    Rater.objects.filter(pk=rater.pk, consented_at__isnull=True).update(consented_at=timezone.now())
    rater.refresh_from_db(fields=["consented_at"])
    return rater
