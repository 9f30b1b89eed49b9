"""Serving a stored file with HTTP Range support, so that browsers can seek in videos.

Production serves the same files from nginx (X-Accel-Redirect) or object storage; this is the
embedded server's way, shared by the raters' matched videos and the researchers' media browser.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


def ranged_file_response(request: HttpRequest, field, content_type: str = "video/mp4") -> HttpResponse:
    """The stored file `field` (a FieldFile), whole (200) or the byte range the request asks for (206)."""
    if settings.JUICE_MEDIA_ACCEL_REDIRECT:
        # nginx sends the bytes (Range included) from its internal location; the browser sees only this URL.
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = f"{settings.JUICE_MEDIA_ACCEL_REDIRECT}{field.name}"
        response["Cache-Control"] = "private, max-age=3600"
        return response
    size = field.size
    header = request.headers.get("Range", "")
    match = RANGE.match(header.strip()) if header else None
    if header and not match:
        return _unsatisfiable(size)
    if not match:
        response = FileResponse(field.open("rb"), content_type=content_type)
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
    response = StreamingHttpResponse(_read_range(field, start, end), status=206, content_type=content_type)
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
