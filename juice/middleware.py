"""Refusing oversized uploads from their Content-Length, before anything reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


def upload_too_large(size: int) -> str | None:
    """The error for a body or file of `size` bytes over JUICE_MAX_UPLOAD_BYTES, or None."""
    limit = settings.JUICE_MAX_UPLOAD_BYTES
    if size > limit:
        return f"upload too large: {size:,} bytes; the limit is {limit:,} bytes (JUICE_MAX_UPLOAD_BYTES)"
    return None


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
            return JsonResponse({"error": message}, status=413)
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
