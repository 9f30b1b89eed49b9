"""Raters joining a study through its link, and logging in or out."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotation.models import Rater, Study
from annotation.raters.cookies import RATER_COOKIE, rater_cookie_set, rater_ids
from annotation.raters.services import JoinError, JoinNeedsLogin, rater_join
from juice.http import client_address, refusal_status
from juice.ratelimit import rate_limit_exceeded

# Crowd platforms put the worker id in different parameters; the first one present wins.
MTURK_PARAMS = ("assignmentId", "turkSubmitTo", "hitId")
WORKER_PARAMS = (("worker", Rater.Source.LINK), ("PROLIFIC_PID", Rater.Source.PROLIFIC), ("workerId", Rater.Source.MTURK))


def rater_message(request: HttpRequest, text: str, status: int) -> HttpResponse:
    """A page that tells an annotator why they cannot go on."""
    return render(request, "annotation/rater_message.html", {"message": text}, status=status)


@require_GET
def rater_join_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The join link: `?worker=` (or a crowd platform's parameter), or the invited account logged in."""
    if rate_limit_exceeded(scope="join", key=client_address(request), limit=settings.JUICE_RATE_JOIN_PER_MINUTE):
        response = rater_message(request, "Too many join requests from your address; please wait a minute.", 429)
        response["Retry-After"] = "60"
        return response
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        return rater_message(request, "There is no such study.", 404)
    worker_id, source = next(((request.GET[p], s) for p, s in WORKER_PARAMS if request.GET.get(p, "").strip()), ("", Rater.Source.LINK))
    user = request.user if not worker_id and request.user.is_authenticated else None
    try:
        rater = rater_join(study=study, worker_id=worker_id, source=source, user=user, sig=request.GET.get("sig", ""),
                           joined_as=rater_ids(request).get(slug))
    except JoinNeedsLogin:
        return redirect_to_login(request.get_full_path())
    except JoinError as exc:
        return rater_message(request, str(exc), refusal_status(exc))
    # MTurk's external question: the page posts the code back to turkSubmitTo with the assignmentId.
    hand_off = {p: request.GET[p] for p in MTURK_PARAMS if request.GET.get(p)}
    response = redirect(reverse("rating-page", args=[slug]) + (f"?{urlencode(hand_off)}" if hand_off else ""))
    rater_cookie_set(response, request, slug=slug, rater=rater)
    return response


# Logging in or out also forgets the studies this browser rates (the rater cookie), so the next
# person at a shared computer, logged in or not, never rates as the one before.


class LoginView(auth_views.LoginView):
    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        response.delete_cookie(RATER_COOKIE, samesite="Lax")
        return response


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response.delete_cookie(RATER_COOKIE, samesite="Lax")
        return response
