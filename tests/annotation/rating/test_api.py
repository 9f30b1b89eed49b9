"""The annotator's side, over HTTP as a browser would: join, next, vote, and every refusal in CONTRACT.md."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from annotation.models import Assignment, Item, Rater, Study, Vote
from annotation.rating.lease import leases_expire
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import assert_no_system_name, join, next_item, vote

pytestmark = pytest.mark.django_db


# --- joining -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("param", "source"), [("worker", "link"), ("PROLIFIC_PID", "prolific"), ("workerId", "mturk")])
def test_it_joins_through_a_crowd_platform_link(param, source):
    study = build_open_study(n_prompts=1)
    join(study, "W1", param)
    rater = Rater.objects.get(study=study, worker_id="W1")
    assert rater.source == source


def test_it_resumes_the_same_rater_on_a_second_join():
    study = build_open_study(n_prompts=2)
    browser = join(study, "W1")
    first = next_item(browser, study)
    again = next_item(join(study, "W1", client=browser), study)
    assert Rater.objects.filter(study=study).count() == 1
    assert again["assignment"] == first["assignment"]


def test_it_refuses_joins_without_a_worker_an_unknown_study_or_a_closed_one():
    study = build_open_study(n_prompts=1)
    assert Client().get(f"/s/{study.slug}/join").status_code == 400
    assert Client().get(f"/s/{study.slug}/join", {"worker": "bad id with spaces"}).status_code == 400
    assert Client().get("/s/nosuchstudy/join", {"worker": "W1"}).status_code == 404
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    response = Client().get(f"/s/{study.slug}/join", {"worker": "W1"})
    assert response.status_code == 409
    assert b"closed" in response.content
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PREPARING)
    assert Client().get(f"/s/{study.slug}/join", {"worker": "W1"}).status_code == 409


def test_it_rate_limits_joins_per_address(settings):
    settings.JUICE_RATE_JOIN_PER_MINUTE = 3
    study = build_open_study(n_prompts=1)
    codes = [Client().get(f"/s/{study.slug}/join", {"worker": f"W{i}"}).status_code for i in range(5)]
    assert codes == [302, 302, 302, 429, 429]


# --- the rating page ------------------------------------------------------------------------------


def test_the_rating_page_needs_a_join_and_names_no_system():
    study = build_open_study(n_prompts=1)
    assert Client().get(f"/s/{study.slug}/rate").status_code == 403
    client = join(study, "W1")
    response = client.get(f"/s/{study.slug}/rate")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert_no_system_name(response.content.decode())
    assert_no_system_name(str(response.headers))


def test_a_rater_of_one_study_cannot_use_another():
    study = build_open_study(n_prompts=1)
    other = build_open_study(n_prompts=1, name="Other study")
    client = join(study, "W1")
    assert client.get(f"/s/{other.slug}/rate").status_code == 403
    assert client.get(f"/api/annotate/{other.slug}/next").status_code == 403


# --- next -------------------------------------------------------------------------------------------


def test_next_gives_the_contract_shape_and_the_same_assignment_until_voted():
    study = build_open_study(n_prompts=2)
    client = join(study, "W1")
    data = next_item(client, study)
    assert set(data) == {"assignment", "prompt", "image", "videos", "questions", "progress"}
    assert data["prompt"].startswith("<b>a cat</b> number ")  # user data, handed over verbatim
    assert data["image"] is None
    assert [q["key"] for q in data["questions"]] == ["quality", "faithfulness"]
    assert [r["key"] for r in data["questions"][1]["reasons"]] == ["spatial_alignment", "temporal_alignment"]
    assert data["progress"] == {"done": 0, "total": 2}
    assert next_item(client, study) == data


def test_video_urls_follow_the_stored_placement_are_opaque_and_seekable():
    study = build_open_study(n_prompts=3)
    client = join(study, "W1")
    data = next_item(client, study)
    assignment = Assignment.objects.get(token=data["assignment"])
    item = assignment.item
    left_token, right_token = (item.token_a, item.token_b) if assignment.left == "a" else (item.token_b, item.token_a)
    assert data["videos"] == {"left": f"/s/{study.slug}/v/{left_token}", "right": f"/s/{study.slug}/v/{right_token}"}
    raw = json.dumps(data)
    assert_no_system_name(raw)
    assert item.prompt.key not in raw and ".mp4" not in raw
    for url in data["videos"].values():
        response = client.get(url, HTTP_RANGE="bytes=0-99")
        assert response.status_code == 206
        assert_no_system_name(str(response.headers))


def test_placement_is_drawn_at_random_per_assignment(settings):
    settings.JUICE_RATE_JOIN_PER_MINUTE = 100
    study = build_open_study(n_prompts=1, raters=40)
    for i in range(40):
        next_item(join(study, f"W{i}"), study)
    assert set(Assignment.objects.values_list("left", flat=True)) == {"a", "b"}


def test_next_hands_out_the_items_with_fewest_raters_first():
    study = build_open_study(n_prompts=3)
    items = {Assignment.objects.get(token=next_item(join(study, f"W{i}"), study)["assignment"]).item_id for i in range(3)}
    assert len(items) == 3


def test_a_rater_sees_each_item_once_then_gets_the_completion_code():
    study = build_open_study(n_prompts=3)
    client = join(study, "W1")
    seen = []
    for _ in range(3):
        data = next_item(client, study)
        seen.append(Assignment.objects.get(token=data["assignment"]).item_id)
        assert vote(client, data["assignment"], answer(study)).status_code == 201
    assert len(set(seen)) == 3
    done = next_item(client, study)
    assert done["assignment"] is None
    assert done["completion_code"] == "DONE1234"
    assert done["progress"] == {"done": 3, "total": 3}


def test_a_vote_with_next_answers_what_next_would_until_the_completion_code():
    study = build_open_study(n_prompts=3)
    client = join(study, "W1")
    data = next_item(client, study)
    seen = []
    for done in (1, 2, 3):
        seen.append(Assignment.objects.get(token=data["assignment"]).item_id)
        response = vote(client, data["assignment"], answer(study), then_next=True)
        assert response.status_code == 201
        assert response.json()["ok"] is True
        assert "no-store" in response["Cache-Control"]  # it names an assignment: never kept by a cache
        data = response.json()["next"]
        assert data["progress"] == {"done": done, "total": 3}
        # The assignment it names is claimed: next hands out the same one until it is voted on.
        assert next_item(client, study) == data
        assert Assignment.objects.filter(rater__worker_id="W1", status="active").count() == (0 if done == 3 else 1)
    assert len(set(seen)) == 3
    assert (data["assignment"], data["completion_code"]) == (None, "DONE1234")
    assert Vote.objects.filter(assignment__rater__worker_id="W1").count() == 6


def test_a_vote_without_next_answers_ok_and_claims_nothing():
    study = build_open_study(n_prompts=2)
    client = join(study, "W1")
    response = vote(client, next_item(client, study)["assignment"], answer(study))
    assert (response.status_code, response.json()) == (201, {"ok": True})
    assert not Assignment.objects.filter(status="active").exists()


def test_a_refused_vote_with_next_claims_nothing():
    study = build_open_study(n_prompts=3)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    refused = vote(client, token, {"quality": {"choice": "left", "reasons": []}}, then_next=True)
    assert refused.status_code == 400
    assert "next" not in refused.json()
    # Someone else's assignment: 403, and nothing is claimed for the intruder either.
    intruder = join(study, "W2")
    stolen = vote(intruder, token, answer(study), then_next=True)
    assert stolen.status_code == 403
    assert "next" not in stolen.json()
    assert not Assignment.objects.filter(rater__worker_id="W2").exists()
    assert vote(client, token, answer(study), then_next=True).status_code == 201
    again = vote(client, token, answer(study), then_next=True)
    assert again.status_code == 409
    assert "next" not in again.json()


def test_a_vote_with_next_in_a_paused_study_is_stored_and_says_paused():
    study = build_open_study(n_prompts=2)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    response = vote(client, token, answer(study), then_next=True)
    assert response.status_code == 201
    following = response.json()["next"]
    assert following["assignment"] is None and following["completion_code"] is None
    assert "paused" in following["message"]
    assert following["progress"]["done"] == 1
    assert_no_system_name(response.content.decode())


def test_a_vote_with_next_is_kept_when_the_next_cannot_be_read(monkeypatch):
    # One item: once it is voted nothing is left to claim, and the answer's `next` is read after the vote.
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]

    def broken(**_):
        raise OperationalError("the database went away")

    monkeypatch.setattr("annotation.rating.voting.assignment_next", broken)
    response = vote(client, token, answer(study), then_next=True)
    # The vote is in, and the answer says so; the page then asks GET next for the next item.
    assert (response.status_code, response.json()) == (201, {"ok": True, "next": None})
    assert Assignment.objects.get(token=token).status == "voted"


def test_a_rater_with_nothing_done_gets_no_completion_code():
    study = build_open_study(n_prompts=1, raters=1)
    next_item(join(study, "W1"), study)
    data = next_item(join(study, "W2"), study)
    assert data["assignment"] is None
    assert data["completion_code"] is None


def test_the_conditioning_image_is_served_to_its_rater_only():
    study = build_open_study(n_prompts=1, raters=2, image=True)
    client = join(study, "W1")
    data = next_item(client, study)
    assert data["image"] == f"/s/{study.slug}/img/{data['assignment']}"
    response = client.get(data["image"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert "Content-Disposition" not in response
    assert join(study, "W2").get(data["image"]).status_code == 404


def test_a_paused_study_hands_out_nothing_until_resumed():
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    data = next_item(client, study)
    assert data["assignment"] is None and data["completion_code"] is None
    assert "paused" in data["message"]
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    assert next_item(client, study)["assignment"]


# --- vote -------------------------------------------------------------------------------------------


def test_a_vote_is_stored_in_system_terms_through_the_placement():
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    data = next_item(client, study)
    body = {"quality": {"choice": "left", "reasons": ["pixel_sharpness", "motion_smoothness"]},
            "faithfulness": {"choice": "right", "reasons": ["temporal_alignment"]}, "watch_ms": 8000}
    response = vote(client, data["assignment"], body)
    assert response.status_code == 201
    assignment = Assignment.objects.get(token=data["assignment"])
    other = "b" if assignment.left == "a" else "a"
    votes = {v.question: v for v in Vote.objects.filter(assignment=assignment)}
    assert (votes["quality"].choice, votes["quality"].reasons) == (assignment.left, ["pixel_sharpness", "motion_smoothness"])
    assert (votes["faithfulness"].choice, votes["faithfulness"].reasons) == (other, ["temporal_alignment"])
    assert votes["quality"].watch_ms == 8000
    assert assignment.status == "voted"
    item = Item.objects.get(pk=assignment.item_id)
    assert (item.claimed, item.votes_done) == (1, 1)


F_OK = {"choice": "left", "reasons": ["spatial_alignment"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"quality": {"choice": "left", "reasons": ["pixel_sharpness"]}}, "faithfulness' is missing"),
        ({"quality": {"choice": "up", "reasons": ["pixel_sharpness"]}, "faithfulness": F_OK},
         "choice must be one of left, right"),
        ({"quality": {"choice": "tie", "reasons": ["pixel_sharpness"]}, "faithfulness": F_OK},
         "choice must be one of left, right"),
        ({"quality": {"choice": "left", "reasons": []}, "faithfulness": F_OK},
         "at least one reason"),
        ({"quality": {"choice": "left", "reasons": ["spatial_alignment"]}, "faithfulness": F_OK},
         "unknown reason 'spatial_alignment'"),
        ({"quality": {"choice": "left", "reasons": ["pixel_sharpness"]}, "faithfulness": F_OK,
          "watch_ms": -5}, "watch_ms"),
        ({"quality": {"choice": "left", "reasons": ["pixel_sharpness"]}, "faithfulness": F_OK,
          "beauty": {}}, "unknown question: beauty"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_bad_vote_is_refused_with_400_and_a_message(body, message):
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    response = vote(client, token, body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not Vote.objects.exists()
    assert Assignment.objects.get(token=token).status == "active"


def test_a_refusal_repeats_at_most_a_few_dozen_characters_of_what_was_sent():
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    huge = "x" * 100_000
    response = vote(client, token, {"quality": {"choice": "left", "reasons": [huge]}, "faithfulness": F_OK})
    assert response.status_code == 400
    assert response.json() == {"error": f"quality: unknown reason {'x' * 64 + '…'!r}"}
    response = vote(client, token, {"quality": {"choice": "left", "reasons": ["pixel_sharpness"]}, "faithfulness": F_OK, huge: {}})
    assert response.status_code == 400 and len(response.content) < 300


def test_a_body_that_is_not_json_is_a_400():
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    response = client.post(f"/api/annotate/assignments/{token}/vote", "{nope", content_type="application/json")
    assert response.status_code == 400


def test_tie_is_accepted_when_the_study_allows_it():
    study = build_open_study(n_prompts=1, allow_tie=True)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    assert vote(client, token, answer(study, "tie")).status_code == 201
    assert set(Vote.objects.values_list("choice", flat=True)) == {"tie"}


def test_another_raters_assignment_is_a_403():
    study = build_open_study(n_prompts=2)
    token = next_item(join(study, "W1"), study)["assignment"]
    intruder = join(study, "W2")
    assert vote(intruder, token, answer(study)).status_code == 403
    assert vote(Client(), token, answer(study)).status_code == 403
    assert vote(intruder, "no-such-token", answer(study)).status_code == 403
    assert not Vote.objects.exists()


def test_a_second_vote_is_a_409_and_changes_nothing():
    study = build_open_study(n_prompts=2)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    assert vote(client, token, answer(study, "left")).status_code == 201
    response = vote(client, token, answer(study, "right"))
    assert response.status_code == 409
    assert "already voted" in response.json()["error"]
    # A retry whose body went wrong still hears that the vote is in, not that it is malformed.
    assert vote(client, token, {"quality": {"choice": "left", "reasons": []}}).status_code == 409
    assert Vote.objects.count() == 2
    assert Item.objects.get(assignments__token=token).votes_done == 1


def test_an_abandoned_assignment_goes_to_another_rater_and_the_late_vote_is_a_409():
    study = build_open_study(n_prompts=1, raters=1, lease_seconds=10)
    slow = join(study, "slow")
    token = next_item(slow, study)["assignment"]
    other = join(study, "other")
    assert next_item(other, study)["assignment"] is None  # the only seat is leased
    Assignment.objects.filter(token=token).update(leased_until=timezone.now() - timedelta(seconds=1))
    taken = next_item(other, study)["assignment"]
    assert taken and taken != token
    assert Assignment.objects.get(token=token).status == "expired"
    response = vote(slow, token, answer(study))
    assert response.status_code == 409
    assert "went to another rater" in response.json()["error"]
    assert vote(other, taken, answer(study)).status_code == 201
    item = Item.objects.get(study=study)
    assert (item.claimed, item.votes_done) == (1, 1)


def test_a_late_vote_still_counts_when_the_item_has_room():
    study = build_open_study(n_prompts=1, raters=2, lease_seconds=10)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    Assignment.objects.filter(token=token).update(leased_until=timezone.now() - timedelta(seconds=1))
    assert leases_expire() == 1
    assert Item.objects.get(study=study).claimed == 0
    assert vote(client, token, answer(study)).status_code == 201
    item = Item.objects.get(study=study)
    assert (item.claimed, item.votes_done) == (1, 1)
    assert next_item(client, study)["progress"]["done"] == 1


def test_a_closed_study_takes_no_votes():
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    assert vote(client, token, answer(study)).status_code == 409
    # The rater is let go, not handed the same item they can never submit.
    assert next_item(client, study)["assignment"] is None
    assert Item.objects.get(study=study).claimed == 0


def test_votes_need_the_csrf_token():
    study = build_open_study(n_prompts=1)
    client = join(study, "W1", client=Client(enforce_csrf_checks=True))
    page = client.get(f"/s/{study.slug}/rate")
    token = next_item(client, study)["assignment"]
    assert vote(client, token, answer(study)).status_code == 403
    csrf = page.cookies["csrftoken"].value
    response = client.post(f"/api/annotate/assignments/{token}/vote", json.dumps(answer(study)),
                           content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201


def test_votes_are_rate_limited_per_rater(settings):
    settings.JUICE_RATE_VOTE_PER_MINUTE = 2
    study = build_open_study(n_prompts=4)
    client = join(study, "W1")
    codes = []
    for _ in range(3):
        token = next_item(client, study)["assignment"]
        codes.append(vote(client, token, answer(study)).status_code)
    assert codes == [201, 201, 429]
    other = join(study, "W2")
    assert vote(other, next_item(other, study)["assignment"], answer(study)).status_code == 201


def test_the_rater_cookie_survives_a_plain_http_client_cookie_jar():
    """Python's cookie jar (requests, urllib) drops the backslashes of a quoted cookie value; the
    rater cookie must need no quoting, or such raters would fail its signature."""
    from http.client import HTTPMessage

    import requests
    from requests.cookies import MockRequest, MockResponse

    first, second = build_open_study(n_prompts=1, name="one"), build_open_study(n_prompts=1, name="two")
    client = join(first, "W1")
    response = client.get(f"/s/{second.slug}/join", {"worker": "W1"})
    header = response.cookies["juice_raters"].OutputString()
    assert '"' not in header
    message = HTTPMessage()
    message["Set-Cookie"] = header
    jar = requests.cookies.RequestsCookieJar()
    jar.extract_cookies(MockResponse(message), MockRequest(requests.Request("GET", "http://testserver/").prepare()))
    browser = Client()
    browser.cookies["juice_raters"] = jar["juice_raters"]
    assert next_item(browser, first)["assignment"] and next_item(browser, second)["assignment"]


def test_keys_a_client_adds_to_an_answer_are_ignored():
    """The contract names choice and reasons; a client that sends more (a comment, a timestamp) still votes."""
    study = build_open_study(n_prompts=1)
    client = join(study, "W1")
    token = next_item(client, study)["assignment"]
    body = answer(study)
    body["quality"] = {**body["quality"], "comment": "the left one flickers", "answered_at": 1733100000}
    assert vote(client, token, body).status_code == 201
    assert Vote.objects.filter(assignment__token=token).count() == 2
