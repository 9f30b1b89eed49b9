"""The researcher's study page at any size: its figures come from counters and from figures kept in the
background (annotation/studies/figures.py), never from reading every vote; the rater table is paginated;
the live refresh fetches the few figures that move as JSON."""

from __future__ import annotations

import csv
import io

from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Rater
from annotation.reports.services import study_raters_csv
from annotation.studies.figures import rater_figures_store
from annotation.studies.selectors import RATERS_PER_PAGE, rater_figures
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater
from tests.support.researcher import page_cell


def test_the_rater_table_shows_the_figures_computed_from_every_vote_and_the_report_agrees(researcher_client):
    study = build_open_study(n_prompts=4, raters=3)
    for n, (worker, choice) in enumerate((("w1", "left"), ("w2", "right"), ("w3", None))):
        SimulatedRater(worker, choice=choice, watch_ms=2000 + 1500 * n).join(study).rate_all()
    rater_figures_store(study=study)
    page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    report = {row["rater"]: row for row in csv.DictReader(io.StringIO(study_raters_csv(study=study)))}
    for figures in rater_figures(study=study):
        rater = Rater.objects.get(study=study, worker_id=figures["worker_id"])
        shown = {key: page_cell(page, f"rater-{rater.pk}-{key}") for key in ("votes", "watch", "left", "reports")}
        assert shown == {
            "votes": str(figures["votes"]), "watch": str(round(figures["median_watch_ms"] / 1000)),
            "left": f"{round(figures['left_share'] * 100)}%", "reports": f"0 of {figures['handed']}",
        }
        # The report counts the same ratings, watch times and left answers (no attention items here).
        row = report[figures["worker_id"]]
        assert (int(row["items"]), float(row["median_watch_ms"]), float(row["share_left"])) == (
            figures["votes"], figures["median_watch_ms"], figures["left_share"])
    assert page_cell(page, "progress-votes") == str(sum(f["votes"] for f in rater_figures(study=study))) == "12"


def test_the_rater_table_is_paginated_and_a_page_that_is_not_there_is_said(researcher_client):
    study = build_open_study(n_prompts=2, raters=1)
    raters = [SimulatedRater(f"w{n:02d}").join(study) for n in range(RATERS_PER_PAGE + 1)]
    rater_figures_store(study=study)
    first = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert "w49" in first and "w50" not in first
    assert 'href="?page=2#raters-heading"' in first and "page 1 of 2" in first
    second = researcher_client.get(f"/studies/{study.slug}", {"page": 2}).content.decode()
    assert "<td>w50</td>" in second and "w00" not in second and page_cell(second, f"rater-{raters[-1].rater_id}-votes") == "0"
    for bad in ("3", "0", "two"):
        missing = researcher_client.get(f"/studies/{study.slug}", {"page": bad})
        assert missing.status_code == 404
        assert missing.content.decode() == f"The rater table has no page '{bad}': its pages are 1 to 2."
    assert researcher_client.get(f"/studies/{study.slug}/live", {"page": "3"}).status_code == 404


def test_the_live_json_reflects_a_new_vote(researcher_client):
    study = build_open_study(n_prompts=3, raters=2)
    rater = SimulatedRater("w1").join(study)
    before = researcher_client.get(f"/studies/{study.slug}/live").json()
    assert before["status"] == "open"
    assert before["fields"]["progress-votes"] == "0" and before["fields"][f"rater-{rater.rater_id}-votes"] == "0"
    etag = researcher_client.get(f"/studies/{study.slug}/live")["ETag"]
    unchanged = researcher_client.get(f"/studies/{study.slug}/live", headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")  # nothing moved: nothing sent
    assert rater.take_turn()
    changed = researcher_client.get(f"/studies/{study.slug}/live", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    after = changed.json()["fields"]
    assert (after["progress-votes"], after["progress-in_progress"], after[f"rater-{rater.rater_id}-votes"]) == ("1", "1", "1")
    assert after["study-status"] == "(open)" and "progress-raters" in after


def test_a_page_view_asks_the_background_for_figures_behind_the_votes_only(researcher_client, django_capture_on_commit_callbacks):
    study = build_open_study(n_prompts=3, raters=2)
    rater = SimulatedRater("w1").join(study)
    rater.take_turn()
    with django_capture_on_commit_callbacks() as asked:
        page = researcher_client.get(f"/studies/{study.slug}").content.decode()
    assert len(asked) == 1 and page_cell(page, "rater-figures-at") == "being computed"
    rater_figures_store(study=study)
    with django_capture_on_commit_callbacks() as asked:
        page = researcher_client.get(f"/studies/{study.slug}/live").json()["fields"]
    assert asked == [] and page["rater-figures-at"].startswith("computed at ")
    rater.take_turn()  # one vote more than the stored figures count
    with django_capture_on_commit_callbacks() as asked:
        researcher_client.get(f"/studies/{study.slug}/live")
    assert len(asked) == 1


def page_queries(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def test_the_page_and_its_live_json_never_read_the_votes_and_cost_the_same_queries_at_any_size(researcher_client):
    small = build_open_study(n_prompts=2, raters=2, name="Small")
    big = build_open_study(n_prompts=12, raters=3, name="Big")
    SimulatedRater("s1").join(small).take_turn()
    for worker in ("b1", "b2", "b3"):
        SimulatedRater(worker).join(big).rate_all()
    for study in (small, big):
        rater_figures_store(study=study)
    for path in ("", "/live"):
        counted = [page_queries(researcher_client, f"/studies/{study.slug}{path}") for study in (small, big)]
        assert len(counted[0]) == len(counted[1])
        assert not [sql for sql in counted[1] if "annotation_vote" in sql]
