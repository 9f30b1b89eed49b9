"""Researchers: their accounts, their API tokens (`Authorization: Token <key>`), and the guards of their pages."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from juice.http import api_error
from juice.models import ApiToken


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user, name: str = "") -> str:
    """Create a token for `user` and return its key; only the hash is stored, so show it once."""
    key = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, key_hash=hash_key(key))
    return key


def api_token_revoke(*, user, token_id: int) -> bool:
    """Revoke (delete) one of `user`'s own tokens; False when `user` has no such token. A revoked
    key is refused by the API at once, as its hash is gone."""
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    return bool(deleted)


def api_tokens_of(*, user) -> list[ApiToken]:
    """`user`'s own tokens, newest first; no researcher reads another's."""
    return list(ApiToken.objects.filter(user=user).order_by("-created_at", "-pk"))


def token_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A researcher API view: a valid token of an active staff user, or a logged-in researcher session.

    Token requests carry no cookies, so they need no CSRF token; session requests keep CSRF.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, key = header.partition(" ")
            if scheme != "Token" or not key.strip():
                return api_error(401, "Authorization header must be 'Token <key>'")
            token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key.strip())).first()
            if token is None or not token.user.is_active:
                return api_error(401, "invalid API token")
            if not token.user.is_staff:
                return api_error(403, "this token's user is not a researcher")
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
            request.user = token.user
            return view(request, *args, **kwargs)
        if not request.user.is_authenticated:
            return api_error(401, "authentication required: send 'Authorization: Token <key>'")
        if not request.user.is_staff:
            return api_error(403, "researchers only")
        # A session-authenticated unsafe request still needs its CSRF token.
        reason = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
        if reason is not None:
            return api_error(403, "CSRF check failed")
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


RESEARCHER_PERMISSIONS = ("view_apitoken", "delete_apitoken")


def researcher_create(*, username: str, password: str) -> tuple[object, bool]:
    """Create the staff user `username` or bring an existing one back to staff with this password.

    Returns (user, created); running it twice is harmless, so set-up scripts can call it freely.
    """
    username = username.strip()
    if not username:
        raise ValueError("a researcher needs a username")
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    validate_password(password, user)
    created = user is None
    if created:
        user = User(username=username)
    user.is_staff = True
    user.is_active = True
    user.set_password(password)
    user.save()
    # The admin shows a staff user only the models it has permissions on: a researcher reviews and
    # revokes its tokens there too (juice/admin.py shows each researcher only its own).
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="juice", codename__in=RESEARCHER_PERMISSIONS))
    return user, created


def researcher_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A researcher web page: anonymous visitors go to the login page, non-staff users get 403."""
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("researchers only")
        return view(request, *args, **kwargs)

    return login_required(wrapper)
