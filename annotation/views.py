from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotation.models import PromptSet, Study
from annotation.raters import RATER_COOKIE
from generation.models import System


@login_required
def researcher_home(request: HttpRequest) -> HttpResponse:
    """The researcher's overview; an annotator's account sees the studies it is invited to instead."""
    if not request.user.is_staff:
        # Study names are the researcher's and may name systems: annotators see numbered studies.
        studies = request.user.invited_studies.filter(status__in=[Study.Status.OPEN, Study.Status.PAUSED]).order_by("created_at")
        return render(request, "annotation/annotator_home.html", {"studies": studies})
    return render(
        request,
        "annotation/home.html",
        {
            "prompt_sets": PromptSet.objects.order_by("-created_at"),
            "systems": System.objects.order_by("name"),
            "studies": Study.objects.order_by("-created_at"),
        },
    )


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
