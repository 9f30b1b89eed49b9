"""The researcher's pages under their strict Content-Security-Policy, in Chromium: a researcher logs in and
goes through the console; the pages' scripts (live parts, pairs played together, the prompt-set choice)
and styles, all from static files, work, the report shows its shaded cells, and the browser blocks
nothing. (tests/juice/test_e2e_console.py checks the same over a whole study run with workers.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from annotation.models import Item, Study
from juice.auth import researcher_create
from tests.support.browser import chromium, outside_the_browser, policy_violations
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater
from tests.support.reports import report_computed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_researcher_pages_run_their_scripts_and_styles_with_no_policy_violation(live_server):
    researcher_create(username="rhea", password="rhea-password-1")
    study = build_open_study(n_prompts=2, raters=3)
    for worker in ("w1", "w2", "w3"):
        SimulatedRater(worker, choice="left").join(study).rate_all()
    for item in Item.objects.filter(study=study):  # the prompt set's page plays the systems' own videos
        for video, matched in ((item.video_a, item.matched_a), (item.video_b, item.matched_b)):
            Path(video.file.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(matched.file.path, video.file.path)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PREPARING)
    url, prompt_set = live_server.url, study.prompt_set
    with chromium() as browser:
        context = browser.new_context()
        violations = policy_violations(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{url}/login/")
        page.fill("#id_username", "rhea")
        page.fill("#id_password", "rhea-password-1")
        page.get_by_role("button", name="Log in").click()  # a form's post, then a redirect (form-action)
        expect(page.locator("nav.researcher")).to_be_visible()
        assert page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(29, 35, 42)"  # site.css

        # The study page follows its study without reloading (juice/live.js).
        page.goto(f"{url}/studies/{study.slug}")
        expect(page.locator("#study-status")).to_have_text("(preparing)")
        outside_the_browser(lambda: Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN))
        expect(page.locator("#study-status")).to_have_text("(open)")

        # The pairs play together (annotation/study_items.js).
        page.goto(f"{url}/studies/{study.slug}/items")
        pair = page.locator("section.pair").first
        pair.get_by_role("button", name="Play / pause both").click()
        page.wait_for_function("s => [...s.querySelectorAll('video')].every(v => !v.paused && v.currentTime > 0)",
                               arg=pair.element_handle())

        # Before the first report the page says it is being computed, and shows the report once it is (juice/live.js).
        page.goto(f"{url}/studies/{study.slug}/report.html")
        expect(page.locator("#report-freshness")).to_contain_text("being computed")
        outside_the_browser(lambda: report_computed(study))
        expect(page.locator("#report-freshness")).to_contain_text("from every vote so far")
        # The report's cells are shaded by its own style element, allowed by hash.
        cell = page.locator("td[class^=up-], td[class^=down-]").first
        assert cell.evaluate("c => getComputedStyle(c).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")

        # The prompt set's videos play; choosing a prompt set on the generation page shows it (generation/status.js).
        page.goto(f"{url}/prompt-sets/{prompt_set.pk}/media")
        video = page.locator("#media video").first
        video.evaluate("v => v.play()")
        page.wait_for_function("v => v.readyState >= 2 && v.currentTime > 0", arg=video.element_handle())
        page.goto(f"{url}/generation/")
        page.locator("select[data-submit-on-change]").select_option(prompt_set.name)
        expect(page.locator("h1")).to_have_text(f"Generation: {prompt_set.name}")

        for path in ("/", "/prompt-sets/", f"/prompt-sets/{prompt_set.pk}", "/systems/", "/tokens/", "/studies/new",
                     f"/studies/{study.slug}/matching", "/no-such-page", "/admin/", "/admin/juice/apitoken/"):
            page.goto(f"{url}{path}")
            page.wait_for_load_state("load")
        context.close()
    assert violations == []
