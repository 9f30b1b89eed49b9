"""A study's items as raters will see them: each matched pair side by side, synchronised, with its
target and the policy in words; the matched files are served to researchers only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotation.models import Item, Study
from tests.support.builders import build_open_study

pytestmark = pytest.mark.django_db


def test_each_item_plays_its_matched_pair_side_by_side(researcher_client):
    study = build_open_study(n_prompts=3)
    Item.objects.filter(study=study).update(matching_params={"target": {"width": 64, "height": 48, "fps": "8", "frames": 8,
                                                                         "duration": 1.0, "fit": "crop"}})
    item = Item.objects.filter(study=study).order_by("prompt__position").first()
    page = researcher_client.get(reverse("study-items", args=[study.slug])).content.decode()
    assert page.count('<div class="videos" data-sync>') == 3 and page.count("Play / pause both") == 3
    assert "Both sides: 64x48, 8 fps, 8 frames (1 s), center-cropped." in page
    assert "Matching: Both videos of an item are center-cropped" in page
    assert "&lt;b&gt;a cat&lt;/b&gt; number 1" in page and "<b>a cat" not in page
    assert reverse("study-item-video", args=[study.slug, item.pk, "a"]) in page
    assert reverse("study-items", args=[study.slug]) in researcher_client.get(reverse("study-detail", args=[study.slug])).content.decode()


def test_the_matched_files_are_served_to_researchers_with_range(researcher_client):
    study = build_open_study(n_prompts=1)
    item = Item.objects.get(study=study)
    url = reverse("study-item-video", args=[study.slug, item.pk, "b"])
    assert researcher_client.get(url, HTTP_RANGE="bytes=0-9").status_code == 206
    assert researcher_client.get(reverse("study-item-video", args=[study.slug, item.pk, "c"])).status_code == 404
    other = build_open_study(n_prompts=1, name="other")
    assert researcher_client.get(reverse("study-item-video", args=[other.slug, item.pk, "a"])).status_code == 404
    client = Client()
    client.force_login(get_user_model().objects.create_user("rater", password="rater-password-1"))
    assert client.get(url).status_code == 403 and client.get(reverse("study-items", args=[study.slug])).status_code == 403


def test_items_still_being_matched_say_so(researcher_client):
    study = build_open_study(n_prompts=2)
    Study.objects.filter(pk=study.pk).update(status="preparing")
    Item.objects.filter(study=study).update(status="pending", matched_a=None, matched_b=None)
    page = researcher_client.get(reverse("study-items", args=[study.slug])).content.decode()
    assert page.count("Not matched yet.") == 2 and "data-sync" not in page
