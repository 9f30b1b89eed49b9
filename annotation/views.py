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


class LogoutView(auth_views.LogoutView):
    """Logging out also forgets the studies this browser rates, so the next person at a shared
    computer does not rate as the one before."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response.delete_cookie(RATER_COOKIE, samesite="Lax")
        return response
