"""The annotator's pages: the rating page, and an assignment's conditioning image."""

from __future__ import annotations

import mimetypes

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_safe
from markdown_it import MarkdownIt

from annotation.models import PROBLEMS, Assignment
from annotation.options import rating_config
from annotation.raters.cookies import rater_from_cookie
from annotation.raters.views import rater_message

MARKDOWN = MarkdownIt("commonmark", {"html": False})

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
        "report": reverse("annotate-report", args=["ASSIGNMENT"]),
        "consent": reverse("annotate-consent", args=[slug]),
        "titles": QUESTION_TITLES,
        # The declared options the page needs (annotation/options.py): allow_tie, min_watch_ms, the hand-off URLs.
        "options": rating_config(study),
        # The study's first page (instructions, consent) until the rater has been through it.
        "intro": bool(study.instructions or study.consent) and rater.consented_at is None,
        # The practice pairs with known answers, until the rater is admitted or screened out.
        "qualification": reverse("annotate-qualification", args=[slug]) if study.qualification and not rater.admitted else None,
        "problems": PROBLEMS,
    }
    context = {"study": study, "config": config, "instructions": instructions_html(study.instructions)}
    return render(request, "annotation/rate.html", context)


def instructions_html(text: str) -> str:
    """The researcher's Markdown as HTML. Raw HTML in it is shown as text and unsafe links (javascript:)
    are not made links: a study's instructions cannot run script in the raters' browsers."""
    return mark_safe(MARKDOWN.render(text)) if text else ""  # noqa: S308 - markdown-it with html off escapes it


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
