"""Who a worker id is: its session resumes only in the browser that first joined with it, and a study
with signed links admits only links whose `sig` is the HMAC of the worker id under the study's secret."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from annotation.models import Rater
from annotation.raters.services import join_signature
from juice.auth import api_token_create
from tests.support.builders import build_open_study
from tests.support.rating import join, next_item

pytestmark = pytest.mark.django_db


def test_the_same_worker_id_in_a_second_browser_is_refused():
    study = build_open_study(n_prompts=2)
    first = join(study, "W1")
    held = next_item(first, study)["assignment"]
    Rater.objects.update(created_at=Rater.objects.get().created_at - timedelta(minutes=1))
    stranger = Client()
    response = stranger.get(f"/s/{study.slug}/join", {"worker": "W1"})
    assert response.status_code == 403
    assert "already joined this study from another browser" in response.content.decode()
    assert stranger.get(f"/api/annotate/{study.slug}/next").status_code == 403
    # The first browser resumes, with its assignment.
    assert next_item(join(study, "W1", client=first), study)["assignment"] == held


def test_a_double_click_on_a_fresh_join_link_is_not_a_second_browser():
    study = build_open_study(n_prompts=1)
    join(study, "W1")
    assert Client().get(f"/s/{study.slug}/join", {"worker": "W1"}).status_code == 302


def test_signed_links_admit_only_the_right_signature():
    study = build_open_study(n_prompts=1, signed_links=True)
    good = join_signature(study=study, worker_id="W1")
    assert Client().get(f"/s/{study.slug}/join", {"worker": "W1"}).status_code == 403
    wrong = Client().get(f"/s/{study.slug}/join", {"worker": "W1", "sig": join_signature(study=study, worker_id="W2")})
    assert wrong.status_code == 403
    assert "This join link is not valid" in wrong.content.decode()
    assert not Rater.objects.exists()
    assert Client().get(f"/s/{study.slug}/join", {"worker": "W1", "sig": good}).status_code == 302
    # Another study's secret signs differently.
    other = build_open_study(n_prompts=1, signed_links=True, name="Other")
    assert Client().get(f"/s/{other.slug}/join", {"worker": "W1", "sig": good}).status_code == 403


def test_researchers_get_the_signed_links_from_the_page_the_api_and_the_command(researcher_client, researcher):
    study = build_open_study(n_prompts=1, signed_links=True)
    sig = join_signature(study=study, worker_id="W7")
    expected = f"http://testserver/s/{study.slug}/join?worker=W7&sig={sig}"

    page = researcher_client.post(f"/studies/{study.slug}/links", {"workers": "W7, W8"}).content.decode()
    assert expected.replace("&", "&amp;") in page

    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    answer = api.post(f"/api/studies/{study.slug}/links", json.dumps({"workers": ["W7"]}), content_type="application/json")
    assert answer.status_code == 200 and answer.json() == {"signed": True, "links": {"W7": expected}}
    bad = api.post(f"/api/studies/{study.slug}/links", json.dumps({"workers": ["=1+1"]}), content_type="application/json")
    assert bad.status_code == 400

    out = StringIO()
    call_command("join_links", study.slug, "W7", "--site", "http://testserver", stdout=out)
    assert out.getvalue() == f"W7\t{expected}\n"
    # The link works, once, in the browser that opens it.
    assert Client().get(expected.removeprefix("http://testserver")).status_code == 302
