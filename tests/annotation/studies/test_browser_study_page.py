"""The study page in a real browser (Debian's Chromium through Playwright), on an upright phone: the live
refresh updates a count from the small JSON without reloading the page, and the rater table's pages are
reached by keyboard, all with no Content-Security-Policy violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotation.studies.figures import rater_figures_store
from annotation.studies.selectors import RATERS_PER_PAGE
from juice.auth import researcher_create
from tests.support.browser import chromium, outside_the_browser, policy_violations
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


def test_the_live_refresh_updates_the_counts_without_reloading_and_the_rater_pages_work_by_keyboard(live_server):
    researcher_create(username="rhea", password="rhea-password-1")
    study = build_open_study(n_prompts=3, raters=2)
    raters = [SimulatedRater(f"w{n:02d}").join(study) for n in range(RATERS_PER_PAGE + 1)]
    rater_figures_store(study=study)
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        violations = policy_violations(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "rhea")
        page.fill("#id_password", "rhea-password-1")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("nav.researcher")).to_be_visible()

        page.goto(f"{live_server.url}/studies/{study.slug}")
        expect(page.locator("#progress-votes")).to_have_text("0")
        page.evaluate("window.sameDocument = true")
        fetched = []
        page.on("request", lambda request: fetched.append(request.url.removeprefix(live_server.url)))
        outside_the_browser(raters[0].take_turn)
        # The next refresh (every 10 s) brings the new count and the rater's own, in the same document.
        expect(page.locator("#progress-votes")).to_have_text("1", timeout=25_000)
        expect(page.locator(f"#rater-{raters[0].rater_id}-votes")).to_have_text("1")
        assert page.evaluate("window.sameDocument") is True
        assert fetched and set(fetched) == {f"/studies/{study.slug}/live?page=1"}  # the small JSON, not the page
        # The wide tables scroll in their own box: the page itself is no wider than the phone.
        for table in ("#progress", "#raters"):
            assert page.locator(table).evaluate("t => t.parentElement.getBoundingClientRect().right") <= PHONE["width"]

        page.locator("nav.pagination a[rel=next]").focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"\?page=2#raters-heading$"))
        expect(page.locator("#raters")).to_contain_text("w50")
        expect(page.locator("#raters")).not_to_contain_text("w00")
    assert violations == []
