"""The annotator's pages: the join link, the rating page, and an assignment's conditioning image."""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_safe

from annotation.models import Assignment, Study
from annotation.ratelimit import rate_limit_exceeded
from annotation.raters import (
    JoinError,
    JoinNeedsLogin,
    rater_cookie_set,
    rater_from_session,
    rater_join,
    worker_from_request,
)

QUESTION_TITLES = {
    "quality": "Quality: which video looks better as a video?",
    "faithfulness": "Faithfulness: which video better follows the text?",
}


def _message(request: HttpRequest, text: str, status: int) -> HttpResponse:
    return render(request, "annotation/rater_message.html", {"message": text}, status=status)


@require_GET
def rater_join_view(request: HttpRequest, slug: str) -> HttpResponse:
    client = request.META.get("REMOTE_ADDR", "")
    if rate_limit_exceeded(scope="join", key=client, limit=settings.JUICE_RATE_JOIN_PER_MINUTE):
        response = _message(request, "Too many join requests from your address; please wait a minute.", 429)
        response["Retry-After"] = "60"
        return response
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        return _message(request, "There is no such study.", 404)
    try:
        worker_id, source, user = worker_from_request(request, study)
        rater = rater_join(study=study, worker_id=worker_id, source=source, user=user)
    except JoinNeedsLogin:
        return redirect_to_login(request.get_full_path())
    except JoinError as exc:
        return _message(request, exc.message, exc.status)
    response = redirect("rating-page", slug=slug)
    rater_cookie_set(response, request, slug=slug, rater=rater)
    return response


@ensure_csrf_cookie
@require_GET
def rating_page(request: HttpRequest, slug: str) -> HttpResponse:
    rater = rater_from_session(request, slug)
    if rater is None:
        return _message(request, "Please open this study through the link you were given.", 403)
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
    rater = rater_from_session(request, slug)
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

