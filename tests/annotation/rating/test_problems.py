"""A rater reports a problem instead of voting (CONTRACT.md, the annotator interface): the item goes to
another rater at once, the rater moves on, and the researcher sees the report and can drop or match
the item again. A vote whose watch time is below the study's minimum is refused with the reason."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from annotation.models import Assignment, Item, Rater, Report, Study
from annotation.reports.exports import votes_write
from annotation.studies.figures import rater_figures_store
from annotation.studies.selectors import rater_figures
from generation.models import MatchedVideo
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item, vote
from tests.support.researcher import page_cell

pytestmark = pytest.mark.django_db


def report(client: Client, token: str, body: object):
    return client.post(f"/api/annotate/assignments/{token}/report", json.dumps(body), content_type="application/json")


def test_a_report_releases_the_item_at_once_and_moves_the_rater_on():
    study = build_open_study(n_prompts=2, raters=1)
    ann = join(study, "ann")
    first = next_item(ann, study)["assignment"]
    item = Assignment.objects.get(token=first).item

    response = report(ann, first, {"problem": "video_does_not_play", "text": "the right one stays black"})
    assert response.status_code == 201
    moved_on = response.json()["next"]
    assert moved_on["assignment"] not in (None, first)
    assert Assignment.objects.get(token=moved_on["assignment"]).item != item
    stored = Report.objects.get()
    assert (stored.assignment.token, stored.problem, stored.text) == (first, "video_does_not_play", "the right one stays black")
    # No lease wait: the one-rater item goes to the next rater at once, and never back to the reporter.
    bob = join(study, "bob")
    assert Assignment.objects.get(token=next_item(bob, study)["assignment"]).item == item
    vote(ann, moved_on["assignment"], answer(study))
    assert next_item(ann, study)["assignment"] is None


def test_a_report_is_refused_like_a_vote():
    study = build_open_study(n_prompts=2, raters=2)
    ann, bob = join(study, "ann"), join(study, "bob")
    token = next_item(ann, study)["assignment"]
    assert report(ann, token, {"problem": "boring"}).status_code == 400
    assert "problem" in report(ann, token, {"problem": "boring"}).json()["error"]
    assert report(bob, token, {"problem": "other", "text": "x"}).status_code == 403
    assert report(Client(), token, {"problem": "other"}).status_code == 403
    assert report(ann, token, {"problem": "different_prompts"}).status_code == 201
    assert report(ann, token, {"problem": "other"}).status_code == 409  # reported already
    assert vote(ann, token, answer(study)).status_code == 409  # and a reported item takes no vote
    voted = next_item(ann, study)["assignment"]
    assert vote(ann, voted, answer(study)).status_code == 201
    assert report(ann, voted, {"problem": "other"}).status_code == 409
    assert Report.objects.count() == 1


def test_reports_past_the_studys_limit_a_minute_are_refused_and_each_accepted_one_releases_its_item():
    study = build_open_study(n_prompts=6, raters=1, options={"reports_per_minute": 3})
    ann, bob = join(study, "ann"), join(study, "bob")
    token = next_item(ann, study)["assignment"]
    for _ in range(3):
        response = report(ann, token, {"problem": "other", "text": "x" * 10})
        assert response.status_code == 201
        assert Assignment.objects.get(token=token).status == "reported"
        token = response.json()["next"]["assignment"]
    refused = report(ann, token, {"problem": "other"})
    assert (refused.status_code, refused["Retry-After"]) == (429, "60")
    assert "more than 3 problem reports a minute" in refused.json()["error"]
    # The refused report changed nothing: the item is still the rater's to vote on.
    assert Assignment.objects.get(token=token).status == "active"
    assert vote(ann, token, answer(study)).status_code == 201
    # The three reported items went straight to the next rater.
    handed = set()
    while (shown := next_item(bob, study)["assignment"]) is not None:
        handed.add(Assignment.objects.get(token=shown).item_id)
        vote(bob, shown, answer(study))
    assert {r.assignment.item_id for r in Report.objects.all()} <= handed and Report.objects.count() == 3


def test_a_rater_who_reports_more_than_the_studys_share_of_their_items_is_flagged_for_review(researcher_client):
    study = build_open_study(n_prompts=12, raters=1)
    ann = join(study, "ann")

    def ann_figures() -> tuple[int, int, bool]:
        (row,) = rater_figures(study=study)
        return row["handed"], row["reports"], row["flagged"]

    token = next_item(ann, study)["assignment"]
    for _ in range(3):
        token = report(ann, token, {"problem": "other"}).json()["next"]["assignment"]
    for _ in range(5):
        vote(ann, token, answer(study))
        token = next_item(ann, study)["assignment"]
    # 3 reports of 9 items handed: a third, but too few items yet to judge.
    assert ann_figures() == (9, 3, False)
    report(ann, token, {"problem": "other"})
    assert ann_figures() == (10, 4, True)  # 4 of 10: past the default 20%
    rater_figures_store(study=study)  # what the background does a moment after the page asks
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    ann_id = Rater.objects.get(study=study, worker_id="ann").pk
    assert (page_cell(page, f"rater-{ann_id}-reports"), page_cell(page, f"rater-{ann_id}-flagged")) == ("4 of 10", "flagged: review")
    # A study that allows more reports flags no one.
    Study.objects.filter(pk=study.pk).update(options={"report_share_flag": 0.5})
    study.refresh_from_db()
    assert ann_figures() == (10, 4, False)


def test_the_researcher_sees_the_reports_and_drops_or_rematches_the_item(researcher_client):
    study = build_open_study(n_prompts=2, raters=2)
    ann = join(study, "ann")
    token = next_item(ann, study)["assignment"]
    item = Assignment.objects.get(token=token).item
    report(ann, token, {"problem": "other", "text": "<b>the cat is blue</b>"})

    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert "Other: “&lt;b&gt;the cat is blue&lt;/b&gt;”" in page  # the rater's text, escaped
    assert f"/studies/{study.slug}/items/{item.pk}/rematch" in page

    response = researcher_client.post(f"/studies/{study.slug}/items/{item.pk}/rematch")
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == Item.Status.PENDING  # handed out no more until its videos are made again
    assert set(MatchedVideo.objects.filter(pk__in=[item.matched_a_id, item.matched_b_id]).values_list("status", flat=True)) == {"pending"}

    Item.objects.filter(pk=item.pk).update(status=Item.Status.READY)
    bob = join(study, "bob")
    bob_token = next_item(bob, study)["assignment"]
    vote(bob, bob_token, answer(study))
    researcher_client.post(f"/studies/{study.slug}/items/{Assignment.objects.get(token=bob_token).item_id}/drop")
    researcher_client.post(f"/studies/{study.slug}/items/{item.pk}/drop")
    item.refresh_from_db()
    assert item.status == Item.Status.DROPPED
    out = io.StringIO()
    votes_write(study=study, out=out)
    assert all(row["item"] != str(item.pk) for row in csv.DictReader(io.StringIO(out.getvalue())))
    assert "No rater has reported" not in researcher_client.get(f"/studies/{study.slug}").content.decode()


def test_a_vote_watched_less_than_the_minimum_is_refused_with_the_reason():
    study = build_open_study(n_prompts=1, min_watch_ms=2000)
    ann = join(study, "ann")
    token = next_item(ann, study)["assignment"]
    response = vote(ann, token, answer(study, watch_ms=1999))
    assert response.status_code == 400
    assert response.json()["error"] == (
        "watch_ms: the videos were watched for 1999 ms; this study asks for at least 2000 ms of watching before a vote"
    )
    unwatched = {key: value for key, value in answer(study).items() if key != "watch_ms"}
    assert vote(ann, token, unwatched).status_code == 400  # no watch_ms at all is 0 ms
    assert vote(ann, token, {**answer(study), "watch_ms": 2000}).status_code == 201
