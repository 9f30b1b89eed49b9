"""The whole journey in Chromium: a researcher logs in, uploads a prompt set and creates a study through
the web pages; five annotators join through the link and rate every item with reasons; the researcher
downloads the reports and the votes CSV, and the report page shows what `python -m analysis report`
computes from that CSV.

One journey, two set-ups: tasks in-process (as `make demo` runs), and production's PostgreSQL, Redis
and separate Celery workers for the `gpu` queue (generation) and the `media` queue (encoding, matching).
The videos each set-up needs are made through the services between the browser's visits: the test
touches the database only outside `chromium()` blocks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from annotation.models import Item, Vote
from generation.jobs.progress import generation_progress
from generation.jobs.queueing import generation_queue
from generation.models import PromptSet, System
from generation.systems.services import system_add
from generation.systems.videos import videos_import
from juice.auth import researcher_create
from tests.support import ROOT
from tests.support.browser import chromium, policy_violations
from tests.support.media import make_video
from tests.support.workers import wait_for, worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPT_SET = "e2e prompts"
PROMPTS_CSV = (
    "id,text,category\n"
    "fox-snow,A red fox jumping into fresh snow,animals\n"
    "lantern-sea,Paper lanterns drifting over a calm sea at night,scenes\n"
)
RATERS = 5
# Each rater answers by side (placement is random per rating, so the systems' fates vary) and ticks
# different reasons: the report has real splits, reasons and agreement figures to get right.
ANSWERS = [
    ("Left", "Pixel sharpness", "Right", "Spatial text alignment"),
    ("Left", "Motion smoothness", "Left", "Temporal text alignment"),
    ("Right", "Frame consistency", "Left", "Spatial text alignment"),
    ("Left", "Amount of motion", "Left", "Temporal text alignment"),
    ("Right", "Pixel sharpness", "Right", "Spatial text alignment"),
]

# What a set-up does between the browser's visits: given the uploaded prompt set, make the videos
# of two systems and return their names.
MakeVideos = Callable[[PromptSet], tuple[str, str]]


def test_the_whole_journey_with_tasks_in_process(live_server, tmp_path, eager):
    # eager: as without a broker, tasks run in the web process.
    def external_videos(prompt_set: PromptSet) -> tuple[str, str]:
        upload(prompt_set, "ext-sharp", tmp_path, width=64, height=48, fps=8, seconds=1.0, source="testsrc2")
        upload(prompt_set, "ext-wide", tmp_path, width=80, height=48, fps=16, seconds=0.75, source="smptebars")
        return "ext-sharp", "ext-wide"

    journey(live_server.url, tmp_path, external_videos, open_within=30)


@pytest.mark.worker
@pytest.mark.usefixtures("empty_queues")
def test_the_whole_journey_on_postgresql_redis_and_gpu_and_media_workers(live_server, tiny_models, media_root, tmp_path):
    gpu_log, media_log = tmp_path / "gpu.log", tmp_path / "media.log"

    def generated_and_external(prompt_set: PromptSet) -> tuple[str, str]:
        system = system_add(
            name="tiny-ltx", pipeline="LTXPipeline", model=str(tiny_models["text-to-video"]),
            params={"num_frames": 9, "height": 32, "width": 32, "num_inference_steps": 2, "max_sequence_length": 16, "fps": 8},
        )
        generation_queue(system=system, prompt_set=prompt_set)
        wait_for(lambda: generation_progress(systems=[system], prompt_set=prompt_set)[0].done == 2, 240,
                 "the gpu worker to generate and the media worker to encode", gpu_log)
        upload(prompt_set, "ext-pattern", tmp_path, width=48, height=36, fps=12, seconds=1.0, source="rgbtestsrc")
        return "tiny-ltx", "ext-pattern"

    with worker(media_root, gpu_log, queues="gpu"), worker(media_root, media_log, queues="media"):
        journey(live_server.url, tmp_path, generated_and_external, open_within=120)

    # Each queue's work was done by its own worker (the banners list every task; these lines are runs). A
    # study created on the web page is matched as background work (juice.background.work_run).
    tasks = ("generation.tasks.generate_videos", "generation.tasks.encode_videos", "juice.background.work_run",
             "generation.tasks.match_video", "annotation.tasks.items_refresh_after")
    ran = {log: {t for t in tasks if f"Task {t}[" in log.read_text()} for log in (gpu_log, media_log)}
    assert ran == {gpu_log: {tasks[0]}, media_log: set(tasks[1:])}


def upload(prompt_set: PromptSet, name: str, tmp_path: Path, **video) -> None:
    """An external system's videos, as a researcher's zip of <prompt id>.mp4 files."""
    system = system_add(name=name, external=True)
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for prompt in prompt_set.prompts.all():
            zipped.write(make_video(tmp_path / name / f"{prompt.key}.mp4", **video), f"{prompt.key}.mp4")
    videos_import(system=system, prompt_set=prompt_set, source=archive)


def journey(url: str, tmp_path: Path, make_videos: MakeVideos, *, open_within: float) -> None:
    researcher_create(username="rhea", password="rhea-password-1")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(PROMPTS_CSV, encoding="utf-8")
    session = tmp_path / "researcher-session.json"

    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/login/")
        page.fill("#id_username", "rhea")
        page.fill("#id_password", "rhea-password-1")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("h1")).to_have_text("Studies")
        page.get_by_role("link", name="Upload a prompt set").click()
        page.fill("#id_name", PROMPT_SET)
        page.set_input_files("#id_file", prompts)
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_text("Imported 2 prompts")).to_be_visible()
        page.context.storage_state(path=session)

    system_a, system_b = make_videos(PromptSet.objects.get(name=PROMPT_SET))

    downloads = tmp_path / "downloads"
    with chromium() as browser:
        researcher_context = browser.new_context(storage_state=session)
        violations = policy_violations(researcher_context)
        researcher = researcher_context.new_page()
        join_url = study_create_in_browser(researcher, url, f"{system_a}, {system_b}", open_within)
        for worker_id, answers in zip([f"annotator-{i}" for i in range(1, RATERS + 1)], ANSWERS, strict=True):
            rate_every_item(browser, join_url.replace("WORKER_ID", worker_id), answers)
        report_waited(researcher, f"{url}/studies/{study_slug(join_url)}")
        files = download_reports(researcher, downloads)
        shown = report_figures(researcher, f"{url}/studies/{study_slug(join_url)}/report.html")
        assert system_a in shown[0] and system_b in shown[0] and "%" in shown[0], shown[0]
        computed = analysis_cli(files["votes"], tmp_path)
        assert report_figures(researcher, computed["html"].as_uri()) == shown
    assert violations == []  # the study's pages and its report, under the Content-Security-Policy

    # The downloads: every item rated by 5 distinct annotators on both questions, and the JSON
    # report's figures equal to the CLI's on the downloaded CSV.
    rows = files["votes"].read_text(encoding="utf-8").splitlines()
    assert len(rows) == 1 + 2 * RATERS * 2
    ours, theirs = json.loads(files["json"].read_text()), json.loads(computed["json"].read_text())
    assert ours["pairs"] == theirs["pairs"] and ours["ranking"] == theirs["ranking"]
    assert {(p["system_a"], p["system_b"], p["items"]) for p in theirs["pairs"]} == {(system_a, system_b, 2)}
    assert files["html"].read_text().lstrip().lower().startswith("<!doctype html>")
    for item in Item.objects.filter(study__name="E2E study"):
        raters = Vote.objects.filter(assignment__item=item).values_list("assignment__rater__worker_id", flat=True)
        assert sorted(raters) == sorted([f"annotator-{i}" for i in range(1, RATERS + 1)] * 2)
    assert System.objects.filter(name__in=[system_a, system_b]).count() == 2


def study_slug(join_url: str) -> str:
    return join_url.split("/s/")[1].split("/")[0]


def study_create_in_browser(page: Page, url: str, pair: str, open_within: float) -> str:
    """Fill /studies/new and wait for the study to open (its videos matched); returns the join link."""
    page.goto(f"{url}/")
    page.get_by_role("link", name="New study").click()
    page.fill("#id_name", "E2E study")
    page.select_option("#id_prompt_set", label=PROMPT_SET)
    page.fill("#id_pairs", pair)
    page.fill("#id_completion_code", "E2E-THANKS")
    page.get_by_role("button", name="Create study").click()
    heading = page.locator("h1")
    expect(heading).to_contain_text("E2E study")
    deadline = time.monotonic() + open_within
    while "(open)" not in heading.inner_text():
        assert time.monotonic() < deadline, f"the study did not open within {open_within:.0f} s: {heading.inner_text()}"
        page.wait_for_timeout(1000)
        page.reload()
    return page.locator("code").first.inner_text()


def rate_every_item(browser: Browser, join_url: str, answers: tuple[str, str, str, str]) -> None:
    """One annotator: answer with the mouse until the completion code shows."""
    quality_side, quality_reason, faithfulness_side, faithfulness_reason = answers
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(join_url)
    done = 0
    while True:
        # The next item is on the page (progress counts the votes so far), or the rater is finished.
        page.wait_for_function(
            """(done) => !document.getElementById('finished').hidden
                || document.getElementById('progress').textContent.split(' ')[1] === String(done)""",
            arg=done,
        )
        if page.locator("#finished").is_visible():
            break
        quality = page.locator("fieldset[data-question=quality]")
        faithfulness = page.locator("fieldset[data-question=faithfulness]")
        quality.get_by_label(quality_side).check()
        quality.get_by_label(quality_reason).check()
        faithfulness.get_by_label(faithfulness_side).check()
        faithfulness.get_by_label(faithfulness_reason).check()
        submit = page.locator("#submit")
        expect(submit).to_be_enabled(timeout=15_000)  # once both videos have played through
        with page.expect_response(lambda r: r.url.endswith("/vote?next=1")) as vote:
            submit.click()
        assert vote.value.status == 201
        done += 1
    assert done == 2
    expect(page.locator("#completion-code")).to_have_text("E2E-THANKS")
    context.close()


def report_waited(page: Page, study_url: str) -> None:
    """The report is computed in the background after the last vote: its page, left open, loads it once it
    is there and says it holds every vote (juice/live.js); then back to the study page."""
    page.goto(f"{study_url}/report.html")
    expect(page.locator("#report-freshness")).to_contain_text("from every vote so far", timeout=90_000)
    page.goto(study_url)


def download_reports(page: Page, folder: Path) -> dict[str, Path]:
    """The study page's download links, saved as the browser saves them."""
    links = page.locator("#report-links")
    files = {}
    for key, name in (("html", "HTML report"), ("json", "JSON"), ("votes", "votes CSV")):
        with page.expect_download() as download:
            links.get_by_role("link", name=name, exact=True).click()
        files[key] = folder / download.value.suggested_filename
        download.value.save_as(files[key])
    assert files["votes"].name.startswith("votes-") and files["html"].suffix == ".html"
    return files


def report_figures(page: Page, url: str) -> list[str]:
    """The text of every section of a rendered report but its settings (which only the study's report has)."""
    page.goto(url)
    sections = page.locator("section").all_inner_texts()
    assert sections and "Win rates" in sections[0]
    return [text for text in sections if not text.startswith("Settings")]


def analysis_cli(votes: Path, tmp_path: Path) -> dict[str, Path]:
    out = {}
    for fmt in ("json", "html"):
        out[fmt] = tmp_path / f"cli-report.{fmt}"
        subprocess.run(
            [sys.executable, "-m", "analysis", "report", str(votes), "--format", fmt, "-o", str(out[fmt])],
            cwd=ROOT, check=True, capture_output=True,
        )
    return out

