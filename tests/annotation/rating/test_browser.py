"""A rater in a real browser (Debian's Chromium through Playwright): join, watch, answer, finish."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from annotation.models import Assignment, Vote
from tests.support.browser import chromium
from tests.support.builders import SYSTEM_NAMES, build_open_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def shortcut(page, text: str) -> str:
    """The key the page shows next to the control labelled `text`."""
    return page.locator("label", has_text=text).locator("kbd").inner_text().lower()


def videos_state(page) -> dict:
    return page.evaluate(
        """() => { const [l, r] = [document.getElementById('video-left'), document.getElementById('video-right')];
                   return {left: l.currentTime, right: r.currentTime, leftPaused: l.paused, rightPaused: r.paused}; }"""
    )


def test_a_rater_joins_watches_answers_by_mouse_and_keyboard_and_finishes(live_server):
    study = build_open_study(n_prompts=2, raters=1, seconds=2.0, image=True)
    with chromium() as browser:
        html = rate_two_items(browser, f"{live_server.url}/s/{study.slug}/join?PROLIFIC_PID=browser-rater")
    for name in SYSTEM_NAMES:
        assert name not in html

    first, second = Assignment.objects.filter(rater__worker_id="browser-rater").order_by("voted_at")
    flip = {"a": "b", "b": "a"}
    votes = {(v.assignment_id, v.question): (v.choice, v.reasons) for v in Vote.objects.all()}
    assert votes == {
        (first.pk, "quality"): (first.left, ["pixel_sharpness", "frame_consistency"]),
        (first.pk, "faithfulness"): (flip[first.left], ["temporal_alignment"]),
        (second.pk, "quality"): (flip[second.left], ["motion_smoothness"]),
        (second.pk, "faithfulness"): (second.left, ["spatial_alignment"]),
    }


def rate_two_items(browser: Browser, join_url: str) -> str:
    """Rate the first item with the mouse and the second with the keyboard; returns every page and
    response header seen, for the blindness check."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    seen, nexts = [], []
    page.on("response", lambda r: seen.append(f"{r.url} {r.headers}"))
    page.on("request", lambda r: nexts.append(r.url) if r.url.endswith("/next") else None)
    page.goto(join_url)

    # First item, with the mouse.
    expect(page.locator("#prompt")).to_contain_text("<b>a cat</b> number")
    assert page.locator("#prompt b").count() == 0  # the prompt's markup is shown as text, never parsed
    page.wait_for_function("() => document.getElementById('cond-image').naturalWidth === 64")  # image-to-video items
    submit = page.locator("#submit")
    expect(submit).to_be_disabled()
    quality = page.locator("fieldset[data-question=quality]")
    faithfulness = page.locator("fieldset[data-question=faithfulness]")
    quality.get_by_label("Left").check()
    quality.get_by_label("Pixel sharpness").check()
    quality.get_by_label("Frame consistency").check()
    faithfulness.get_by_label("Right").check()
    expect(submit).to_be_disabled()  # a question without a reason
    faithfulness.get_by_label("Temporal text alignment").check()
    expect(submit).to_be_enabled(timeout=15_000)  # once both videos have played through
    state = videos_state(page)
    assert abs(state["left"] - state["right"]) < 0.25
    # The vote asks for the next item in its answer (?next=1): one request per item.
    with page.expect_response(lambda r: r.url.endswith("/vote?next=1")) as first_vote:
        submit.click()
    assert first_vote.value.status == 201

    # Second item, with the keyboard only: the keys are the ones the page shows.
    expect(page.locator("#progress")).to_contain_text("Done 1 of at most 2")
    page.wait_for_function("() => !document.getElementById('video-left').paused")
    page.keyboard.press(" ")
    page.wait_for_timeout(200)
    state = videos_state(page)
    assert state["leftPaused"] and state["rightPaused"]
    page.keyboard.press(" ")
    page.wait_for_function("() => !document.getElementById('video-left').paused && !document.getElementById('video-right').paused")
    # Drift past 0.1 s is corrected: push the right video off and watch it come back.
    page.evaluate("() => { const r = document.getElementById('video-right'); r.currentTime = (r.currentTime + 0.6) % 1.8; }")
    page.wait_for_timeout(400)
    state = videos_state(page)
    assert abs(state["left"] - state["right"]) < 0.15
    # A stalled video holds the other until it plays again.
    page.evaluate("() => document.getElementById('video-right').dispatchEvent(new Event('waiting'))")
    page.wait_for_timeout(150)
    assert videos_state(page)["leftPaused"]
    page.evaluate("() => document.getElementById('video-right').dispatchEvent(new Event('playing'))")
    page.wait_for_function("() => !document.getElementById('video-left').paused")
    page.keyboard.press("ArrowRight")  # seek moves both
    state = videos_state(page)
    assert abs(state["left"] - state["right"]) < 0.15
    page.keyboard.press(shortcut(quality, "Right"))
    page.keyboard.press(shortcut(quality, "Motion smoothness"))
    page.keyboard.press(shortcut(faithfulness, "Left"))
    page.keyboard.press(shortcut(faithfulness, "Spatial text alignment"))
    expect(submit).to_be_enabled(timeout=15_000)
    with page.expect_response(lambda r: r.url.endswith("/vote?next=1")) as second_vote:
        page.keyboard.press("Enter")
    assert second_vote.value.status == 201

    expect(page.locator("#completion-code")).to_have_text("DONE1234")
    assert len(nexts) == 1  # only when the page opened: each vote's answer held what came next
    html = page.content() + "\n".join(seen)
    context.close()
    return html


def test_the_page_fits_a_phone_held_sideways(live_server):
    study = build_open_study(n_prompts=1, raters=1)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 740, "height": 360}, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=phone")
        expect(page.locator("#prompt")).to_contain_text("a cat")
        left, right = page.locator("#video-left").bounding_box(), page.locator("#video-right").bounding_box()
        context.close()
    assert left["x"] + left["width"] <= right["x"]  # side by side
    assert right["x"] + right["width"] <= 740
    assert left["y"] + left["height"] <= 360  # both videos on screen at once


def test_the_page_waits_out_a_server_that_is_briefly_unavailable(live_server):
    """While the database restarts the server answers 503 (Retry-After): the page says so, keeps the
    rater's answers, asks again, and carries on when the server is back."""
    study = build_open_study(n_prompts=2, raters=1)
    with chromium() as browser:
        page = browser.new_context().new_page()
        unavailable = {"next": 1, "vote": 2}  # how many answers of each kind are a 503

        def outage(route, kind: str) -> None:
            if unavailable[kind]:
                unavailable[kind] -= 1
                route.fulfill(status=503, headers={"Retry-After": "1"}, content_type="application/json",
                              body='{"error": "the database cannot be reached just now"}')
            else:
                route.continue_()

        page.route("**/next", lambda route: outage(route, "next"))
        page.route("**/vote?next=1", lambda route: outage(route, "vote"))
        page.goto(f"{live_server.url}/s/{study.slug}/join?worker=patient")
        expect(page.locator("#prompt")).to_contain_text("a cat", timeout=10_000)
        for fieldset, choice, reason in (("quality", "Left", "Pixel sharpness"), ("faithfulness", "Right", "Spatial text alignment")):
            page.locator(f"fieldset[data-question={fieldset}]").get_by_label(choice).check()
            page.locator(f"fieldset[data-question={fieldset}]").get_by_label(reason).check()
        expect(page.locator("#submit")).to_be_enabled(timeout=15_000)
        page.locator("#submit").click()
        expect(page.locator("#error")).to_contain_text("briefly unavailable")
        expect(page.locator("#progress")).to_contain_text("Done 1 of at most 2", timeout=10_000)
        expect(page.locator("#error")).to_have_text("")
        assert unavailable == {"next": 0, "vote": 0}
    assert Vote.objects.filter(assignment__rater__worker_id="patient").count() == 2  # stored once
