"""The rating page under its strict Content-Security-Policy, in Chromium: a rater plays a pair, rates it and
reports a problem with the next, and the browser blocks nothing; markup slipped into the page cannot run
a script or set a style."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotation.models import Report, Vote
from tests.support.browser import chromium, policy_violations
from tests.support.builders import build_open_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLAYING = """() => ['video-left', 'video-right'].every((id) => {
  const v = document.getElementById(id); return !v.paused && v.readyState >= 2 && v.currentTime > 0; })"""


def test_a_rater_plays_rates_and_reports_a_problem_with_no_policy_violation(live_server):
    study = build_open_study(n_prompts=2, raters=1, image=True)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        violations = policy_violations(context)
        page = context.new_page()
        with page.expect_response(lambda r: r.url.endswith("/rate")) as rating_page:
            page.goto(f"{live_server.url}/s/{study.slug}/join?worker=careful")
        assert "script-src 'self';" in rating_page.value.headers["content-security-policy"]
        expect(page.locator("#prompt")).to_contain_text("a cat")
        page.wait_for_function(PLAYING)  # both videos load and play
        page.wait_for_function("() => document.getElementById('cond-image').naturalWidth === 64")
        assert page.locator(".videos").evaluate("e => getComputedStyle(e).display") == "flex"  # rate.css applies
        for fieldset, choice, reason in (("quality", "Left", "Pixel sharpness"), ("faithfulness", "Right", "Spatial text alignment")):
            page.locator(f"fieldset[data-question={fieldset}]").get_by_label(choice).check()
            page.locator(f"fieldset[data-question={fieldset}]").get_by_label(reason).check()
        expect(page.locator("#submit")).to_be_enabled(timeout=15_000)  # once both played through
        with page.expect_response(lambda r: r.url.endswith("/vote?next=1")) as voted:
            page.locator("#submit").click()
        assert voted.value.status == 201

        expect(page.locator("#progress")).to_contain_text("Done 1 of at most 2")
        page.wait_for_function(PLAYING)
        page.locator("#report-open").click()
        page.locator("#report-problems input[type=radio]").first.check()
        page.locator("#report-text").fill("the left one flickers")
        with page.expect_response(lambda r: r.url.endswith("/report")) as reported:
            page.locator("#report-send").click()
        assert reported.value.status == 201
        expect(page.locator("#error")).to_have_text("Thank you: the problem is reported.")
        assert violations == []

        # What the policy is for: markup that reached the page runs no handler and sets no style.
        page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
            '<img id="injected" src="/no-such-image" onerror="window.handlerRan = true">'
            + '<p id="red" style="color: rgb(255, 0, 0)">x</p>')""")
        page.wait_for_function("() => document.getElementById('injected').complete")
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.handlerRan") is None
        assert page.locator("#red").evaluate("e => getComputedStyle(e).color") != "rgb(255, 0, 0)"
        context.close()
    assert sorted(v.split(" blocked ")[0] for v in violations) == ["CSP violation: script-src-attr", "CSP violation: style-src-attr"]
    assert Vote.objects.filter(assignment__rater__worker_id="careful").count() == 2  # two questions
    assert Report.objects.get().text == "the left one flickers"
