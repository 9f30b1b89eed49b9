"""Upload limits: a request or file over JUICE_MAX_UPLOAD_BYTES is refused with 413, by pages and APIs alike."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse

from juice.http import api_error


def upload_too_large(size: int) -> str | None:
    """The error for a body or file of `size` bytes over JUICE_MAX_UPLOAD_BYTES, or None."""
    limit = settings.JUICE_MAX_UPLOAD_BYTES
    if size > limit:
        return f"upload too large: {size:,} bytes; the limit is {limit:,} bytes (JUICE_MAX_UPLOAD_BYTES)"
    return None


def api_upload(request: HttpRequest) -> tuple[UploadedFile | None, JsonResponse | None]:
    """The API's multipart field `file`, or the error answer (400 when missing, 413 when too large)."""
    upload = request.FILES.get("file")
    if upload is None:
        return None, api_error(400, "send the file as the multipart field 'file'")
    if message := upload_too_large(upload.size):
        return None, api_error(413, message)
    return upload, None


def form_upload_refused(form: forms.Form) -> HttpResponse | None:
    """A valid form's file that got past the Content-Length check (a chunked upload) is still held to the limit."""
    message = upload_too_large(form.cleaned_data["file"].size)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8") if message else None
