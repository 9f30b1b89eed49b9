"""The site's error answers: JSON on the APIs (`/api/`), pages elsewhere; a database that cannot be
reached is a 503 with Retry-After, which the rating page waits out, not a 500. ApiErrorsJsonMiddleware
(juice/middleware.py) makes any other error under `/api/` JSON too (a 405 of require_POST, say)."""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import defaults

from juice.http import api_error

logger = logging.getLogger(__name__)

API = "/api/"
# Seconds a client waits before asking again while the database is unreachable (a restart takes a few).
RETRY_AFTER = 5
UNAVAILABLE = "the database cannot be reached just now (a restart?); try again in a few seconds"
UNAVAILABLE_PAGE = (
    "<!doctype html><title>Briefly unavailable</title><p>The site's database cannot be reached just now (a restart?).</p>"
    "<p>Reload this page in a few seconds: nothing you did is lost.</p>"
)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path_info.startswith(API):
        return api_error(400, "bad request")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path_info.startswith(API):
        return api_error(403, str(exception) or "forbidden")
    return defaults.permission_denied(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A request without its CSRF token (CSRF_FAILURE_VIEW): JSON on the APIs, a page elsewhere (Django's
    own carries inline styles, which the Content-Security-Policy refuses)."""
    if request.path_info.startswith(API):
        return api_error(403, "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header")
    return render(request, "csrf_failure.html", {"reason": reason}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path_info.startswith(API):
        return api_error(404, "no such API address or object")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """An unhandled exception (Django has logged it): 503 when the database is unreachable, else 500."""
    unavailable = isinstance(sys.exc_info()[1], OperationalError | InterfaceError)
    if request.path_info.startswith(API):
        response = api_error(503, UNAVAILABLE) if unavailable else api_error(500, "internal error; it has been logged")
    elif unavailable:
        response = HttpResponse(UNAVAILABLE_PAGE, status=503, content_type="text/html; charset=utf-8")
    else:
        return defaults.server_error(request)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER)
    return response
