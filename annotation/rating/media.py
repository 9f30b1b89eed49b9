"""Serving matched videos under opaque per-study tokens, with HTTP Range support so browsers can seek.

Production serves the same files from nginx or object storage; this view is the embedded server's.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from annotation.models import Item, Study

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


def item_side_file(study_slug: str, token: str):
    """The matched file behind `token` in this study, or 404: a token of another study is unknown here."""
    item = (
        Item.objects.select_related("matched_a", "matched_b")
        .filter(Q(token_a=token) | Q(token_b=token), study__slug=study_slug, status=Item.Status.READY)
        .exclude(study__status=Study.Status.PREPARING)
        .first()
    )
    if item is None:
        raise Http404("no such video")
    matched = item.matched_a if item.token_a == token else item.matched_b
    if matched is None or not matched.file:
        raise Http404("no such video")
    return matched.file


@require_safe
def study_video(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    field = item_side_file(slug, token)
    if settings.JUICE_MEDIA_ACCEL_REDIRECT:
        # nginx sends the bytes (Range included) from its internal location; the browser sees only the token URL.
        response = HttpResponse(content_type="video/mp4")
        response["X-Accel-Redirect"] = f"{settings.JUICE_MEDIA_ACCEL_REDIRECT}{field.name}"
        response["Cache-Control"] = "private, max-age=3600"
        return response
    size = field.size
    header = request.headers.get("Range", "")
    match = RANGE.match(header.strip()) if header else None
    if header and not match:
        return _unsatisfiable(size)
    if not match:
        response = FileResponse(field.open("rb"), content_type="video/mp4")
        # FileResponse names the stored file in Content-Disposition; a file name may carry a system name.
        response.headers.pop("Content-Disposition", None)
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "private, max-age=3600"
        return response
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
        if last == "" or int(last) == 0:
            return _unsatisfiable(size)
        start, end = max(size - int(last), 0), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return _unsatisfiable(size)
    response = StreamingHttpResponse(_read_range(field, start, end), status=206, content_type="video/mp4")
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _read_range(field, start: int, end: int):
    """Stream bytes start..end in chunks: a browser asking for `bytes=0-` must not load the file into memory."""
    with field.open("rb") as handle:
        handle.seek(start)
        left = end - start + 1
        while left > 0:
            block = handle.read(min(CHUNK, left))
            if not block:
                return
            left -= len(block)
            yield block


def _unsatisfiable(size: int) -> HttpResponse:
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{size}"
    return response
