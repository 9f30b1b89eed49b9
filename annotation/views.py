from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotation.auth import researcher_required
from annotation.models import PromptSet, Study
from generation.models import System


@researcher_required
def researcher_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "annotation/home.html",
        {
            "prompt_sets": PromptSet.objects.order_by("-created_at"),
            "systems": System.objects.order_by("name"),
            "studies": Study.objects.order_by("-created_at"),
        },
    )
