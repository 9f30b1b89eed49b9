"""The site's middleware: security headers on every answer, oversized uploads refused early, and a
lighter chain for the annotator API."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import Http404, HttpRequest, HttpResponse

from juice import csp
from juice.http import api_error
from juice.uploads import upload_too_large


class SecurityHeadersMiddleware:
    """Every answer (pages, API answers, videos, errors) carries the Content-Security-Policy
    (settings.JUICE_CSP, juice/csp.py) and the Permissions-Policy (settings.JUICE_PERMISSIONS_POLICY).
    It comes first in MIDDLEWARE, so the answers of the others (a redirect to HTTPS, a 413) carry them too;
    Django's SecurityMiddleware sends Referrer-Policy and X-Content-Type-Options.

    A view that must inline sets its own policy (`csp.inline_allow`), which is kept. So are Django's
    debug pages (JUICE_DEBUG=1), whose inline styles and scripts are allowed by hash, on them only."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if csp.HEADER not in response:
            debug_page = settings.DEBUG and response.status_code >= 400 and not response.streaming
            if debug_page and response.get("Content-Type", "").startswith("text/html"):
                csp.inline_allow(response)
            else:
                response[csp.HEADER] = csp.policy()
        response.setdefault("Permissions-Policy", settings.JUICE_PERMISSIONS_POLICY)
        return response


class ApiErrorsJsonMiddleware:
    """Every error answer under `/api/` is JSON with a message, whatever made it: Django's 405 of
    `require_POST` (an empty HTML body) keeps its status and its `Allow` header, with the methods named."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (response.status_code < 400 or not request.path_info.startswith("/api/")
                or response.get("Content-Type", "").startswith("application/json")):
            return response
        answer = api_error(response.status_code, _message(request, response))
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                answer[header] = response[header]
        return answer


def _message(request: HttpRequest, response: HttpResponse) -> str:
    if response.status_code == 405:
        return f"{request.method} is not answered here; use {response.get('Allow', 'another method')}"
    return response.reason_phrase.lower()


class NulPathMiddleware:
    """404 for a path holding a NUL character: nothing is named with one (PostgreSQL keeps no NUL in
    text, so looking one up would fail as a 500). JSON under `/api/`, the site's page elsewhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info:
            raise Http404("no such address")
        return self.get_response(request)


class UploadLimitMiddleware:
    """413 for a request whose declared body exceeds the limit.

    It sits before the CSRF middleware, which would otherwise parse (and spool to disk) the whole
    multipart body just to find the token.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        message = upload_too_large(length)
        if message is None:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return api_error(413, message)
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


# The annotator API (`next` and `vote`, CONTRACT.md) knows raters by their signed cookie and never
# reads a session, a logged-in user or a flash message. Its requests, the busiest of the site, skip
# the middleware that would set those up and write them back.
ANNOTATOR_API = "/api/annotate/"


class _SkippedOnAnnotatorAPI:
    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(ANNOTATOR_API):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_SkippedOnAnnotatorAPI, sessions.SessionMiddleware):
    """Django's session middleware, except on the annotator API."""


class AuthenticationMiddleware(_SkippedOnAnnotatorAPI, auth.AuthenticationMiddleware):
    """Django's authentication middleware, except on the annotator API."""


class MessageMiddleware(_SkippedOnAnnotatorAPI, messages.MessageMiddleware):
    """Django's message middleware, except on the annotator API."""
