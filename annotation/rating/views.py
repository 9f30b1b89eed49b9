"""The annotator's pages: the rating page, and an assignment's conditioning image."""

from __future__ import annotations

import mimetypes

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_safe

from annotation.models import Assignment
from annotation.raters.cookies import rater_from_cookie
from annotation.raters.views import rater_message

QUESTION_TITLES = {
    "quality": "Quality: which video looks better as a video?",
    "faithfulness": "Faithfulness: which video better follows the text?",
}


@ensure_csrf_cookie
@require_GET
def rating_page(request: HttpRequest, slug: str) -> HttpResponse:
    rater = rater_from_cookie(request, slug)
    if rater is None:
        return rater_message(request, "Please open this study through the link you were given.", 403)
    study = rater.study
    config = {
        "next": reverse("annotate-next", args=[slug]),
        # The script puts the assignment in place of the placeholder.
        "vote": reverse("annotate-vote", args=["ASSIGNMENT"]),
        "titles": QUESTION_TITLES,
        "allowTie": study.allow_tie,
    }
    return render(request, "annotation/rate.html", {"study": study, "config": config})


@require_safe
def rating_image(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """The conditioning image of the rater's own assignment (image-to-video items)."""
    rater = rater_from_cookie(request, slug)
    assignment = Assignment.objects.select_related("item__prompt").filter(token=token, rater=rater).first() if rater else None
    if assignment is None or not assignment.item.prompt.image:
        raise Http404("no such image")
    image = assignment.item.prompt.image
    content_type = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
    response = FileResponse(image.open("rb"), content_type=content_type)
    # FileResponse names the stored file in Content-Disposition; the name is not the rater's business.
    response.headers.pop("Content-Disposition", None)
    response["Cache-Control"] = "private, max-age=3600"
    return response
