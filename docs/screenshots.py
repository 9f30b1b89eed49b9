"""Take the README's screenshots from a running demo: `make demo`, then in another shell

    .venv/bin/python docs/screenshots.py http://127.0.0.1:8000

It rates the demo study over the HTTP API as five raters (so the report has figures), then shoots
the rating page as the fifth rater in the middle of the last answer, the top of the HTML report, and
the researcher's console: the systems page, the media browser and the study page. With `--console`
it shoots only the console's pages (no rating).
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import requests
from PIL import Image
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
USERNAME, PASSWORD = "researcher", "juice-demo"


def study_slug(base: str) -> str:
    """The demo study's slug, read from the researcher's home page."""
    session = requests.Session()
    login = session.get(f"{base}/login/")
    login.raise_for_status()
    session.post(f"{base}/login/", data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                 headers={"Referer": f"{base}/login/"}).raise_for_status()
    home = session.get(f"{base}/").text
    return home.split("/s/")[1].split("/join")[0]


def rate_as(base: str, slug: str, worker: str, rng: random.Random, *, leave: int = 0) -> int:
    """One rater answers every item but the last `leave` over the annotator API; returns the number of votes."""
    session = requests.Session()
    session.get(f"{base}/s/{slug}/join?worker={worker}").raise_for_status()
    votes = 0
    while (task := session.get(f"{base}/api/annotate/{slug}/next").json())["assignment"]:
        if task["progress"]["total"] - task["progress"]["done"] <= leave:
            break
        body = {
            q["key"]: {"choice": rng.choice(["left", "right"]), "reasons": rng.sample([r["key"] for r in q["reasons"]], k=1)}
            for q in task["questions"]
        }
        response = session.post(
            f"{base}/api/annotate/assignments/{task['assignment']}/vote", json={**body, "watch_ms": rng.randint(3000, 9000)},
            headers={"X-CSRFToken": session.cookies["csrftoken"]},
        )
        response.raise_for_status()
        votes += 1
    return votes


def save(png: bytes, path: Path) -> None:
    # 256 colours: the noise of the tiny models' videos would make a full-colour PNG heavy.
    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256).save(path, optimize=True)


def log_in(page) -> None:
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()


def shoot_console(browser, base: str, slug: str) -> None:
    """The systems page, the media browser of the demo's prompt set, and the study page."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/login/")
    log_in(page)
    page.goto(f"{base}/systems/")
    save(page.screenshot(full_page=True), HERE / "systems-page.png")
    page.goto(f"{base}/prompt-sets/")
    page.locator("#prompt-sets").get_by_role("link", name="videos").first.click()
    page.wait_for_function("() => [...document.querySelectorAll('#media video')].every(v => v.readyState >= 2)")
    page.evaluate("() => document.querySelectorAll('#media video').forEach(v => { v.currentTime = 0.5; })")
    page.wait_for_timeout(500)
    save(page.screenshot(), HERE / "media-browser.png")
    page.goto(f"{base}/studies/{slug}")
    save(page.screenshot(), HERE / "study-page.png")
    print(f"wrote {HERE / 'systems-page.png'}, {HERE / 'media-browser.png'} and {HERE / 'study-page.png'}")


def main(base: str, *, console_only: bool = False) -> None:
    base = base.rstrip("/")
    slug = study_slug(base)
    if console_only:
        with sync_playwright() as p:
            shoot_console(p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS), base, slug)
        return
    rng = random.Random(7)
    for i in range(1, 6):
        # The last rater keeps one item for the screenshot.
        print(f"demo-rater-{i}: {rate_as(base, slug, f'demo-rater-{i}', rng, leave=1 if i == 5 else 0)} votes")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/s/{slug}/join?worker=demo-rater-5")
        page.wait_for_function("() => document.getElementById('video-left').currentTime > 0.8")
        quality = page.locator("fieldset[data-question=quality]")
        quality.get_by_label("Right").check()
        quality.get_by_label("Pixel sharpness").check()
        quality.get_by_label("Motion smoothness").check()
        page.locator("fieldset[data-question=faithfulness]").get_by_label("Right").check()
        save(page.screenshot(), HERE / "rating-page.png")

        researcher = browser.new_page(viewport={"width": 1200, "height": 1500})
        researcher.goto(f"{base}/login/")
        log_in(researcher)
        researcher.goto(f"{base}/studies/{slug}/report.html")
        save(researcher.screenshot(), HERE / "report.png")
        shoot_console(browser, base, slug)
        browser.close()
    print(f"wrote {HERE / 'rating-page.png'} and {HERE / 'report.png'}")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--console"]
    main(arguments[0] if arguments else "http://127.0.0.1:8000", console_only="--console" in sys.argv[1:])
