"""Crowd conditions in a real browser (Debian's Chromium through Playwright): a video that does not load,
watching that a seek cannot fake, the first page with instructions and consent, the hand-off back to
the crowd platform, a phone held upright, and the playback controls."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from django.test import Client
from playwright.sync_api import expect

from annotation.models import Assignment, Item, Rater, Report, Vote
from tests.support.browser import chromium, policy_violations
from tests.support.builders import build_open_study
from tests.support.rating import join, next_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def answer_by_mouse(page) -> None:
    for fieldset, choice, reason in (("quality", "Left", "Pixel sharpness"), ("faithfulness", "Right", "Spatial text alignment")):
        page.locator(f"fieldset[data-question={fieldset}]").get_by_label(choice).check()
        page.locator(f"fieldset[data-question={fieldset}]").get_by_label(reason).check()


def test_a_video_that_does_not_load_is_said_retried_and_reported(live_server, researcher):
    study = build_open_study(n_prompts=2, raters=1)
    with chromium() as browser:
        page = browser.new_context().new_page()
        broken = {}

        def not_found(route) -> None:
            # The first item's right-hand video is missing, retry or not.
            if not broken or route.request.url == broken["url"]:
                broken["url"] = route.request.url
                route.fulfill(status=404, body="gone")
            else:
                route.continue_()

        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=unlucky")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        first_prompt = page.locator("#prompt").inner_text()
        page.route("**/v/*", not_found)
        page.evaluate("() => { const r = document.getElementById('video-right'); r.src = r.src; }")  # load again, now broken
        expect(page.locator("#video-problem-text")).to_have_text("A video could not be loaded. Please try again.")
        page.locator("#video-retry").click()
        expect(page.locator("#video-problem-text")).to_contain_text("still does not play")
        expect(page.locator("#report")).to_be_visible()
        expect(page.locator("#report input[value=video_does_not_play]")).to_be_checked()
        page.locator("#report-text").fill("the right one stays black")
        with page.expect_response(lambda r: r.url.endswith("/report")) as reported:
            page.locator("#report-send").click()
        assert reported.value.status == 201
        expect(page.locator("#error")).to_have_text("Thank you: the problem is reported.")
        expect(page.locator("#prompt")).not_to_have_text(first_prompt)  # moved on to the other item
    report = Report.objects.get()
    assert (report.problem, report.text) == ("video_does_not_play", "the right one stays black")
    # The reported item went back to the pool at once: the next rater gets it, no lease to wait out.
    other = join(study, "next-rater")
    assert Assignment.objects.get(token=next_item(other, study)["assignment"]).item == report.assignment.item
    researcher_page = Client()
    researcher_page.force_login(researcher)
    assert "the right one stays black" in researcher_page.get(f"/studies/{study.slug}").content.decode()


def test_seeking_to_the_end_does_not_enable_the_vote_and_playing_through_does(live_server):
    study = build_open_study(n_prompts=1, raters=1, seconds=2.0)
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=skipper")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        page.locator("#play").click()  # pause at once
        page.wait_for_function("() => document.getElementById('video-left').duration > 0")
        page.locator("#loop").uncheck()
        answer_by_mouse(page)
        for _ in range(10):  # the seek key, pressed ten times
            page.keyboard.press("ArrowRight")
        page.wait_for_timeout(800)
        expect(page.locator("#submit")).to_be_disabled()
        watched = int(page.locator("#watched").inner_text().removeprefix("Watched ").removesuffix("%"))
        assert watched < 100
        page.locator("#restart").click()  # now play it through
        expect(page.locator("#watched")).to_have_text("Watched 100%", timeout=15_000)
        expect(page.locator("#submit")).to_be_enabled()
        with page.expect_response(lambda r: "/vote" in r.url) as voted:
            page.locator("#submit").click()
        assert voted.value.status == 201
    assert Vote.objects.filter(assignment__rater__worker_id="skipper").first().watch_ms >= 1500


def test_submit_waits_for_the_studys_minimum_watch_time_and_says_how_long(live_server):
    # The videos last 1 s and loop; the study asks for 3 s of watching, which the page is told.
    study = build_open_study(n_prompts=1, raters=1, seconds=1.0, min_watch_ms=3000)
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=patient")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        answer_by_mouse(page)
        expect(page.locator("#watched")).to_have_text("Watched 100%", timeout=15_000)
        expect(page.locator("#submit")).to_be_disabled()
        expect(page.locator("#hint")).to_contain_text("Please keep watching")
        expect(page.locator("#submit")).to_be_enabled(timeout=15_000)
        with page.expect_response(lambda r: "/vote" in r.url) as voted:
            page.locator("#submit").click()
        assert voted.value.status == 201
    assert Vote.objects.filter(assignment__rater__worker_id="patient").first().watch_ms >= 3000


def test_instructions_then_consent_then_the_items(live_server):
    study = build_open_study(n_prompts=1, raters=1, instructions="# Watch both\nThen pick. <script>alert(1)</script>",
                             consent="I agree that my answers are used for research.")
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=careful")
        expect(page.locator("#intro-instructions h1")).to_have_text("Watch both")  # the researcher's Markdown
        expect(page.locator("#intro-instructions")).to_contain_text("<script>alert(1)</script>")  # raw HTML shown as text
        expect(page.locator("#consent-text")).to_contain_text("used for research")
        expect(page.locator("#task")).to_be_hidden()
        expect(page.locator("#intro-continue")).to_be_disabled()
        page.get_by_label("I agree").check()
        page.locator("#intro-continue").click()
        expect(page.locator("#prompt")).to_contain_text("a cat")
        page.reload()  # agreed once: straight to the items
        expect(page.locator("#prompt")).to_contain_text("a cat")
        expect(page.locator("#intro")).to_be_hidden()
    assert Rater.objects.get(worker_id="careful").consented_at is not None


QUALIFICATION = {
    "items": [{"prompt": "p0001", "pair": ["SecretModelX", "SecretModelY"], "answers": {"quality": "SecretModelX"}}],
    "mistakes_allowed": 0,
}


def practice_answer(page, x_token: str, right: bool) -> None:
    """Answer the practice pair on screen, rightly or not (the expected system is SecretModelX, whose
    video the test knows by its token; the page names no system)."""
    left_is_x = page.evaluate("() => document.getElementById('video-left').src").endswith(f"/{x_token}")
    side = "Left" if left_is_x == right else "Right"
    quality = page.locator("fieldset[data-question=quality]")
    quality.get_by_label(side).check()
    quality.get_by_label("Pixel sharpness").check()


@pytest.mark.parametrize("right", [True, False])
def test_instructions_consent_and_qualification_come_in_order(live_server, right):
    study = build_open_study(n_prompts=2, raters=1, questions=("quality",), name="Qualified study", instructions="Look closely.",
                             consent="I agree.", qualification=QUALIFICATION,
                             screenout_url="http://127.0.0.1:9/screened?cc={code}")
    item = Item.objects.select_related("pair__system_a").get(study=study, prompt__key="p0001")
    x_token = item.token_a if item.pair.system_a.name == "SecretModelX" else item.token_b
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, body="back on the platform"))
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=trainee")
        expect(page.locator("#intro-instructions")).to_contain_text("Look closely.")
        expect(page.locator("#task")).to_be_hidden()
        page.get_by_label("I agree").check()
        page.locator("#intro-continue").click()
        expect(page.locator("#progress")).to_have_text("Practice pair 1 of 1")
        practice_answer(page, x_token, right)
        expect(page.locator("#submit")).to_be_enabled(timeout=15_000)
        page.locator("#submit").click()
        if right:
            expect(page.locator("#feedback-text")).to_have_text("Right: that is the expected answer.")
            page.locator("#feedback-next").click()
            expect(page.locator("#progress")).to_contain_text("Done 0 of at most 2")  # the study's own items now
        else:
            expect(page.locator("#feedback-text")).to_contain_text("Not quite: the expected answer was")
            page.locator("#feedback-next").click()
            page.wait_for_url("http://127.0.0.1:9/screened?cc=SCREENED_OUT")
    rater = Rater.objects.get(worker_id="trainee")
    assert (rater.consented_at is not None, rater.admitted, rater.screened_out) == (True, right, not right)


def test_the_completion_redirect_carries_the_code(live_server):
    study = build_open_study(n_prompts=1, raters=1, completion_url="http://127.0.0.1:9/done?cc={code}")
    with chromium() as browser:
        context = browser.new_context()
        violations = policy_violations(context)
        page = context.new_page()
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, body="back on the platform"))
        page.goto(f"{live_server.url}/s/{study.slug}/join?PROLIFIC_PID=finisher")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        answer_by_mouse(page)
        expect(page.locator("#submit")).to_be_enabled(timeout=15_000)
        page.locator("#submit").click()
        page.wait_for_url("http://127.0.0.1:9/done?cc=DONE1234")
    assert violations == []  # the Content-Security-Policy lets the page leave for the platform


def test_the_mturk_hand_off_posts_the_assignment_id_to_turk_submit_to(live_server):
    study = build_open_study(n_prompts=1, raters=1)
    with chromium() as browser:
        context = browser.new_context()
        violations = policy_violations(context)
        page = context.new_page()
        posted = []

        def mturk(route) -> None:
            posted.append((route.request.method, route.request.post_data))
            route.fulfill(status=200, body="thanks from MTurk")

        page.route("https://workersandbox.mturk.com/**", mturk)
        page.goto(f"{live_server.url}/s/{study.slug}/join?workerId=TURKER1&assignmentId=ASSIGN42&hitId=H1"
                  "&turkSubmitTo=https%3A%2F%2Fworkersandbox.mturk.com")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        answer_by_mouse(page)
        expect(page.locator("#submit")).to_be_enabled(timeout=15_000)
        page.locator("#submit").click()
        page.wait_for_url("https://workersandbox.mturk.com/mturk/externalSubmit")
    assert violations == []  # form-action allows MTurk's hand-off
    (method, body), = posted
    assert method == "POST"
    assert parse_qs(body) == {"assignmentId": ["ASSIGN42"], "completion_code": ["DONE1234"]}


def test_on_an_upright_phone_a_rater_completes_an_item_by_taps_with_submit_on_the_first_screen(live_server, tmp_path):
    study = build_open_study(n_prompts=1, raters=1)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=phone")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        expect(page.locator("kbd").first).to_be_hidden()  # no keyboard hints on a touch-only device
        box = page.locator("fieldset[data-question=quality] input[value=left]").bounding_box()
        assert box["width"] >= 24 and box["height"] >= 24  # touch targets
        for fieldset, choice, reason in (("quality", "left", "pixel_sharpness"), ("faithfulness", "right", "spatial_alignment")):
            page.locator(f"fieldset[data-question={fieldset}] input[value={choice}]").tap()
            page.locator(f"fieldset[data-question={fieldset}] input[value={reason}]").tap()
        submit = page.locator("#submit")
        expect(submit).to_be_enabled(timeout=15_000)
        page.screenshot(path=tmp_path / "phone.png")  # what the rater sees, without scrolling
        box = submit.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 844 and box["x"] + box["width"] <= 390
        left, right = page.locator("#video-left").bounding_box(), page.locator("#video-right").bounding_box()
        assert left["y"] + left["height"] <= right["y"]  # stacked
        with page.expect_response(lambda r: "/vote" in r.url) as voted:
            submit.tap()
        assert voted.value.status == 201
        context.close()


def test_the_playback_controls_move_both_videos(live_server):
    study = build_open_study(n_prompts=1, raters=1, seconds=2.0)
    both = """() => [document.getElementById('video-left'), document.getElementById('video-right')]
                     .map(v => ({time: v.currentTime, rate: v.playbackRate, paused: v.paused}))"""
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=player")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        page.wait_for_function("() => document.getElementById('video-left').duration > 0")
        page.locator("#speed").select_option("0.5")
        left, right = page.evaluate(both)
        assert left["rate"] == right["rate"] == 0.5
        page.locator("#step-forward").click()
        page.locator("#step-forward").click()
        left, right = page.evaluate(both)
        assert left["paused"] and right["paused"]
        assert abs(left["time"] - right["time"]) < 0.01
        before = left["time"]
        page.locator("#step-back").click()
        left, right = page.evaluate(both)
        assert abs(left["time"] - right["time"]) < 0.01 and left["time"] < before
        page.locator("#fullscreen").click()
        page.wait_for_function("() => { const pair = document.fullscreenElement; const v = (id) => document.getElementById(id);"
                               " return pair && pair.contains(v('video-left')) && pair.contains(v('video-right')); }")
