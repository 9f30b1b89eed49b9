"""The researcher's console in Chromium, on PostgreSQL, Redis and real gpu and media workers: a
researcher who has only logged in uploads a prompt set, adds a tiny generated (factorized) system
and an external one with its videos, generates, retries the jobs that failed (its model was away),
previews a video and its first frame, creates a study with a non-default matching policy, watches
the page open it without reloading, previews a matched pair and downloads the report, and the browser
blocks nothing under the Content-Security-Policy. No command, no service call: the test only moves the
model's folder away and back."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from annotation.models import Study
from generation.models import GenerationJob, System
from juice.auth import researcher_create
from tests.support.browser import chromium, policy_violations
from tests.support.media import make_video
from tests.support.workers import worker

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PROMPTS_CSV = "id,text\nfox,A red fox jumping into fresh snow\nsea,Paper lanterns over a calm sea\n"
PARAMS = "num_frames=9\nheight=32\nwidth=32\nnum_inference_steps=2\nfps=8\nimage.height=32\nimage.width=32\nimage.num_inference_steps=2"


@pytest.mark.usefixtures("empty_queues")
def test_a_researcher_runs_a_study_from_the_browser_alone(live_server, tiny_models, media_root, tmp_path):
    researcher_create(username="rhea", password="rhea-password-1")
    video_model = tmp_path / "models" / "i2v"
    shutil.copytree(tiny_models["image-to-video"], video_model)
    files = make_files(tmp_path)
    gpu_log, media_log = tmp_path / "gpu.log", tmp_path / "media.log"

    with worker(media_root, gpu_log, queues="gpu"), worker(media_root, media_log, queues="media"), chromium() as browser:
        context = browser.new_context()
        violations = policy_violations(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        log_in(page, live_server.url)
        upload_prompt_set(page, files["prompts"])
        add_systems(page, video_model, tiny_models["text-to-image"], files["videos"])
        hidden = video_model.with_name("away")
        video_model.rename(hidden)  # the model is away: every job fails
        generate_and_retry(page, lambda: hidden.rename(video_model), gpu_log)
        preview_media(page)
        create_study(page)
        report = download_report(page, tmp_path)
    assert violations == []  # every page's scripts and styles come from static files

    assert {p["system_a"] for p in json.loads(report.read_text())["pairs"]} <= {"tiny-emu", "ext-pattern"}
    study = Study.objects.get(name="Console study")
    assert study.status == "open" and study.matching == {"aspect": "pad", "resolution": None, "fps": "4", "duration": "loop"}
    assert set(GenerationJob.objects.values_list("status", flat=True)) == {"done"}
    assert System.objects.get(name="tiny-emu").pipeline == "factorized"


def make_files(tmp_path: Path) -> dict[str, Path]:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(PROMPTS_CSV, encoding="utf-8")
    videos = tmp_path / "ext-pattern.zip"
    with zipfile.ZipFile(videos, "w") as zipped:
        for key in ("fox", "sea"):
            clip = make_video(tmp_path / "ext" / f"{key}.mp4", width=48, height=36, fps=12, seconds=1.0, source="rgbtestsrc")
            zipped.write(clip, f"{key}.mp4")
    return {"prompts": prompts, "videos": videos}


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("#id_username", "rhea")
    page.fill("#id_password", "rhea-password-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("nav.researcher")).to_be_visible()


def upload_prompt_set(page: Page, prompts: Path) -> None:
    page.get_by_role("navigation", name="Researcher pages").get_by_role("link", name="Prompt sets").click()
    page.get_by_role("link", name="Upload a prompt set").click()
    page.fill("#id_name", "console prompts")
    page.set_input_files("#id_file", prompts)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported 2 prompts")).to_be_visible()


def add_systems(page: Page, video_model: Path, image_model: Path, videos: Path) -> None:
    page.get_by_role("navigation", name="Researcher pages").get_by_role("link", name="Systems").click()
    page.fill("#id_name", "tiny-emu")
    page.select_option("#id_pipeline", "factorized")
    page.fill("#id_model", str(video_model))
    page.fill("#id_image_model", str(image_model))
    page.fill("#id_params", "num_frame=9")  # a typo: refused with add_system's message
    page.get_by_role("button", name="Add system").click()
    expect(page.locator("#system-error")).to_contain_text("unknown parameter(s) num_frame")
    page.fill("#id_params", PARAMS)
    page.get_by_role("button", name="Add system").click()
    expect(page.get_by_text("Added system tiny-emu.")).to_be_visible()
    expect(page.locator("#systems")).to_contain_text("factorized: StableDiffusionPipeline → LTXImageToVideoPipeline")

    page.fill("#id_name", "ext-pattern")
    page.get_by_label("external: its videos are uploaded").check()
    page.get_by_role("button", name="Add system").click()
    expect(page.locator("h1")).to_have_text("Videos of ext-pattern")
    page.select_option("#id_prompt_set", "console prompts")
    page.set_input_files("#id_file", videos)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported 2 videos")).to_be_visible()


def generate_and_retry(page: Page, bring_model_back, gpu_log: Path) -> None:
    page.get_by_role("navigation", name="Researcher pages").get_by_role("link", name="Generation").click()
    page.select_option("#id_system", "tiny-emu")
    page.select_option("#id_prompt_set", "console prompts")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("tiny-emu: queued 2 job(s)")).to_be_visible()
    row = page.locator("tr.system", has_text="tiny-emu")
    # The page updates itself: no reload from here on.
    expect(row.locator("td.failed")).to_have_text("2", timeout=120_000)
    group = page.locator("details.error-group").first
    group.locator("summary").click()
    expect(group.locator("pre.traceback")).to_contain_text("Traceback")
    expect(group.locator("summary")).to_contain_text("(2 jobs)")
    bring_model_back()
    page.get_by_role("button", name="Retry all 2 failed").click()
    expect(page.get_by_text("tiny-emu: 2 failed job(s) queued again.")).to_be_visible()
    expect(page.locator("tr.system", has_text="tiny-emu").locator("td.done")).to_have_text("2", timeout=180_000)


def preview_media(page: Page) -> None:
    page.get_by_role("navigation", name="Researcher pages").get_by_role("link", name="Prompt sets").click()
    page.locator("#prompt-sets").get_by_role("link", name="videos").click()
    expect(page.locator("#media video")).to_have_count(4)
    video = page.locator("#prompt-fox video").first
    video.evaluate("v => v.play()")
    page.wait_for_function("v => v.readyState >= 2 && v.currentTime > 0", arg=video.element_handle())
    expect(page.locator("#prompt-fox")).to_contain_text("32x32 · 8 fps · 9 frames")
    first_frame = page.locator("#prompt-fox img.first-frame")
    expect(first_frame).to_be_visible()
    assert first_frame.evaluate("img => img.complete && img.naturalWidth") == 32


def create_study(page: Page) -> None:
    page.get_by_role("navigation", name="Researcher pages").get_by_role("link", name="Studies").click()
    page.get_by_role("link", name="New study").click()
    page.fill("#id_name", "Console study")
    page.select_option("#id_prompt_set", label="console prompts")
    page.fill("#id_pairs", "tiny-emu, ext-pattern")
    page.select_option("#id_matching_aspect", "pad")
    page.fill("#id_matching_fps", "4")
    page.select_option("#id_matching_duration", "loop")
    page.get_by_role("button", name="Create study").click()
    expect(page.locator("#matching-policy")).to_contain_text("padded with black bars to a common aspect ratio")
    expect(page.locator("#matching-policy")).to_contain_text("brought to 4 fps by dropping frames")
    expect(page.locator("#study-status")).to_have_text("(open)", timeout=120_000)  # without reloading
    page.get_by_role("link", name="Preview the matched pairs").click()
    pair = page.locator("section.pair").first
    expect(pair.locator("video")).to_have_count(2)
    expect(pair).to_contain_text("4 fps, 4 frames (1 s), padded")
    pair.get_by_role("button", name="Play / pause both").click()
    page.wait_for_function("s => [...s.querySelectorAll('video')].every(v => !v.paused && v.currentTime > 0)",
                           arg=pair.element_handle())
    page.go_back()


def download_report(page: Page, folder: Path) -> Path:
    """The report is computed in the background (here by the media worker): the button asks for it, the
    report page shows it once there, and the study page then downloads it."""
    study_page = page.url
    page.get_by_role("button", name="Compute the report again").click()
    expect(page.locator("#report-freshness")).to_contain_text("from every vote so far", timeout=60_000)
    page.goto(study_page)
    with page.expect_download() as download:
        page.locator("#report-links").get_by_role("link", name="JSON", exact=True).click()
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    return path
