"""The researcher's side: creating studies (page and JSON API), progress, raters, pause and close, attention items."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from annotation.models import Assignment, Item, Rater, Study
from annotation.rating.analysed import raters_excluded
from annotation.studies.attention import AttentionError, attention_items_ensure
from annotation.studies.figures import rater_figures_store
from annotation.tasks import attention_items_make, leases_expire
from generation.probe import probe_video
from juice.auth import api_token_create
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item, vote
from tests.support.researcher import page_cell

pytestmark = pytest.mark.django_db


FORM = {
    "name": "Form study",
    "pairs": "SecretModelX, SecretModelY",
    "raters": "3",
    "questions": ["quality", "faithfulness"],
    "quality_reasons": "pixel_sharpness: Sharp pixels\nmotion_smoothness: Smooth motion",
    "faithfulness_reasons": "spatial_alignment: Right things\ntemporal_alignment: Right actions",
    "allow_tie": "on",
    "lease_seconds": "300",
    "completion_code": "THANKS",
    "instructions": "Be careful.",
    "attention_items": "2",
    "attention_threshold": "0.8",
}


def test_it_creates_a_study_from_the_form(researcher_client):
    source = build_open_study(n_prompts=3)
    response = researcher_client.post("/studies/new", {**FORM, "prompt_set": source.prompt_set.pk})
    study = Study.objects.get(name="Form study")
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.slug}"
    assert study.status == "preparing"
    assert (study.raters_per_item, study.allow_tie, study.lease_seconds, study.completion_code) == (3, True, 300, "THANKS")
    assert study.reasons["quality"] == [
        {"key": "pixel_sharpness", "label": "Sharp pixels"}, {"key": "motion_smoothness", "label": "Smooth motion"},
    ]
    assert (study.attention_items, study.attention_threshold, study.instructions) == (2, 0.8, "Be careful.")
    assert Item.objects.filter(study=study).count() == 3
    assert set(Item.objects.filter(study=study).values_list("raters_needed", flat=True)) == {3}


def test_the_form_names_the_bad_line_and_creates_nothing(researcher_client):
    source = build_open_study(n_prompts=1)
    bad = {**FORM, "prompt_set": source.prompt_set.pk, "pairs": "SecretModelX, SecretModelY\nSecretModelX, Nope"}
    response = researcher_client.post("/studies/new", bad)
    assert response.status_code == 200
    assert "pair 2: no system named &#x27;Nope&#x27;" in response.content.decode()
    response = researcher_client.post("/studies/new", {**FORM, "prompt_set": source.prompt_set.pk, "quality_reasons": "Not a reason line"})
    assert "line 1: expected" in response.content.decode()
    assert not Study.objects.filter(name="Form study").exists()


def test_the_form_defaults_to_the_juice_reasons_and_five_raters(researcher_client):
    response = researcher_client.get("/studies/new")
    page = response.content.decode()
    assert "pixel_sharpness: Pixel sharpness" in page and "temporal_alignment: Temporal text alignment" in page
    assert 'value="5"' in page and 'value="600"' in page


def test_the_api_creates_and_reports_a_study(researcher):
    source = build_open_study(n_prompts=2)
    key = api_token_create(user=researcher)
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    body = {"name": "API study", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]],
            "questions": ["quality"], "raters": 3, "attention_threshold": 1}
    response = api.post("/api/studies", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["join_url"] == f"http://testserver/s/{data['slug']}/join"
    assert (data["questions"], data["raters_per_item"], data["allow_tie"], data["lease_seconds"]) == (["quality"], 3, False, 600)
    assert data["progress"]["total"] == 0  # items wait for matching
    assert Item.objects.filter(study__slug=data["slug"]).count() == 2
    report = api.get(f"/api/studies/{data['slug']}").json()
    assert report["name"] == "API study" and report["status"] == "preparing"
    assert api.get("/api/studies/nosuch").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"pairs": [["SecretModelX", "Nope"]]}, "pair 1: no system named 'Nope'"),
        ({"raters": "five"}, "raters: input should be a valid integer"),
        ({"raters": 0}, "raters: input should be greater than or equal to 1"),
        ({"questions": ["beauty"]}, "questions.0: input should be 'quality' or 'faithfulness'"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"pairs": "A vs B"}, "pairs: input should be a valid array"),
        ({"name": ""}, "a study needs a name"),
        ({"prompt_set": "nope"}, "no prompt set named 'nope'"),
        ({"reasons": {"quality": ["pixel_sharpness"]}}, "reasons.quality.0: input should be an object"),
        ({"reasons": {"quality": [{"key": "sharp"}, {"key": "sharp"}]}}, "reasons for 'quality' need distinct keys"),
        # Reasons travel joined by ";" in the votes CSV: a key with one would split into two.
        ({"reasons": {"quality": [{"key": "sharp;smooth"}]}}, "reasons.quality.0.key: string should match pattern"),
    ],
)
def test_the_api_refuses_bad_studies_with_400(researcher, body, message):
    source = build_open_study(n_prompts=1)
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}")
    full = {"name": "API study", "prompt_set": source.prompt_set.name, "pairs": [["SecretModelX", "SecretModelY"]], **body}
    response = api.post("/api/studies", json.dumps(full), content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Study.objects.filter(name="API study").exists()


def test_the_study_api_needs_a_researcher(django_user_model):
    study = build_open_study(n_prompts=1)
    assert Client().get(f"/api/studies/{study.slug}").status_code == 401
    annotator = django_user_model.objects.create_user("carol", password="carol-password-1")
    api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=annotator)}")
    assert api.get(f"/api/studies/{study.slug}").status_code == 403
    assert api.post("/api/studies", "{}", content_type="application/json").status_code == 403


def test_annotators_reach_no_researcher_page(django_user_model):
    study = build_open_study(n_prompts=1)
    rater = join(study, "W1")
    for url in ("/", "/studies/new", f"/studies/{study.slug}"):
        assert rater.get(url)["Location"].startswith("/login/")
    assert rater.get(f"/api/studies/{study.slug}").status_code == 401
    assert rater.post(f"/studies/{study.slug}/status", {"status": "closed"}).status_code == 302
    invited = django_user_model.objects.create_user("dave", password="dave-password-1")
    rater.force_login(invited)
    assert rater.get(f"/studies/{study.slug}").status_code == 403
    assert Study.objects.get(pk=study.pk).status == "open"


def test_the_study_page_shows_progress_and_per_rater_figures(researcher_client):
    study = build_open_study(n_prompts=3, raters=2, attention_threshold=0.5)
    first = join(study, "W1")
    for watch in (3000, 5000, 9000):
        token = next_item(first, study)["assignment"]
        assert vote(first, token, answer(study, "left", watch_ms=watch)).status_code == 201
    second = join(study, "W2")
    next_item(second, study)
    rater_figures_store(study=study)  # what the background does a moment after the page asks
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert f"/s/{study.slug}/join?worker=WORKER_ID" in page
    # 3 items: one with both raters' claims, two with one vote each; none waiting.
    assert [page_cell(page, f"progress-{k}") for k in ("total", "complete", "in_progress", "waiting", "votes", "raters")] == [
        "3", "0", "3", "0", "3", "2"]
    w1 = Rater.objects.get(study=study, worker_id="W1").pk
    assert page_cell(page, f"rater-{w1}-votes") == "3"
    assert page_cell(page, f"rater-{w1}-watch") == "5"  # median watch 5 s
    assert page_cell(page, f"rater-{w1}-left") == "100%"  # every decisive answer of W1 went to the left video
    assert page_cell(page, f"rater-{w1}-reports") == "0 of 3"


def test_pause_resume_and_close_from_the_study_page(researcher_client):
    study = build_open_study(n_prompts=2)
    rater = join(study, "W1")
    token = next_item(rater, study)["assignment"]
    researcher_client.post(f"/studies/{study.slug}/status", {"status": "paused"})
    assert Study.objects.get(pk=study.pk).status == "paused"
    assert vote(rater, token, answer(study)).status_code == 201  # an item in hand may still be answered
    assert next_item(rater, study)["assignment"] is None
    researcher_client.post(f"/studies/{study.slug}/status", {"status": "open"})
    assert next_item(rater, study)["assignment"]
    researcher_client.post(f"/studies/{study.slug}/status", {"status": "closed"})
    assert Study.objects.get(pk=study.pk).status == "closed"
    response = researcher_client.post(f"/studies/{study.slug}/status", {"status": "open"}, follow=True)
    assert "a closed study cannot become open" in response.content.decode()
    assert Study.objects.get(pk=study.pk).status == "closed"
    assert Client().get(f"/s/{study.slug}/join", {"worker": "late"}).status_code == 409


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


def add_attention_items(study: Study, count: int) -> list[Item]:
    Study.objects.filter(pk=study.pk).update(attention_items=count)
    study.refresh_from_db()
    return attention_items_ensure(study=study)


def test_attention_items_pit_a_video_against_its_frozen_copy():
    study = build_open_study(n_prompts=3)
    made = add_attention_items(study, 2)
    assert len(made) == 2 and all(item.is_attention and item.status == "ready" for item in made)
    for item in made:
        good, frozen = (item.matched_a, item.matched_b) if item.expected == "a" else (item.matched_b, item.matched_a)
        good_path, frozen_path = Path(settings.MEDIA_ROOT) / good.file.name, Path(settings.MEDIA_ROOT) / frozen.file.name
        assert probe_video(frozen_path).frame_count == probe_video(good_path).frame_count
        frames = _frames(frozen_path)
        assert max(np.abs(f.astype(int) - frames[0]).mean() for f in frames) < 0.5  # it does not move
        moving = _frames(good_path)
        assert np.abs(moving[-1].astype(int) - moving[0]).mean() > 1
    with pytest.raises(AttentionError, match="only 3 ready items"):
        add_attention_items(study, 6)


def test_attention_passes_and_failures_are_counted_and_low_raters_excluded():
    study = build_open_study(n_prompts=1, raters=2, attention_threshold=0.5)
    (attention,) = add_attention_items(study, 1)
    Item.objects.exclude(pk=attention.pk).update(status=Item.Status.DROPPED)
    for worker, right_answer in (("careful", True), ("sloppy", False)):
        client = join(study, worker)
        token = next_item(client, study)["assignment"]
        left = Assignment.objects.get(token=token).left
        pick = "left" if (left == attention.expected) == right_answer else "right"
        assert vote(client, token, answer(study, pick)).status_code == 201
    careful, sloppy = Rater.objects.get(worker_id="careful"), Rater.objects.get(worker_id="sloppy")
    assert (careful.attention_passed, careful.attention_failed, careful.votes_done) == (1, 0, 1)
    assert (sloppy.attention_passed, sloppy.attention_failed, sloppy.votes_done) == (0, 1, 1)
    assert raters_excluded(study=study) == [sloppy]


def test_the_attention_task_builds_what_the_study_asked_for_once():
    study = build_open_study(n_prompts=3)
    Study.objects.filter(pk=study.pk).update(attention_items=2)
    assert attention_items_make(study.pk) == 2
    assert attention_items_make(study.pk) == 0
    assert Item.objects.filter(study=study, is_attention=True).count() == 2


def test_attention_items_can_be_added_from_the_study_page(researcher_client, eager, django_capture_on_commit_callbacks):
    # eager: the media worker's task runs in-process.
    study = build_open_study(n_prompts=2)
    with django_capture_on_commit_callbacks(execute=True):
        researcher_client.post(f"/studies/{study.slug}/attention", {"count": "1"})
    assert Item.objects.filter(study=study, is_attention=True).count() == 1
    response = researcher_client.post(f"/studies/{study.slug}/attention", {"count": "9"}, follow=True)
    assert "only 2 ready items" in response.content.decode()
    assert Study.objects.get(pk=study.pk).attention_items == 1


def test_the_periodic_sweep_returns_expired_leases_to_the_pool():
    study = build_open_study(n_prompts=2, raters=1)
    token = next_item(join(study, "W1"), study)["assignment"]
    assert leases_expire() == 0
    Assignment.objects.filter(token=token).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert leases_expire() == 1
    assert Assignment.objects.get(token=token).status == "expired"
    assert Item.objects.get(assignments__token=token).claimed == 0
