"""Take the README's screenshots from a running demo: `make demo`, then in another shell

    .venv/bin/python docs/screenshots.py http://127.0.0.1:8000

It rates the demo study over the HTTP API as five raters (so the report has figures), then shoots
the study's first page (instructions), the rating page as the fifth rater in the middle of the last
answer, the same on a phone held upright, the top of the HTML report, and the researcher's console:
the systems page, the media browser and the study page. With `--console` it shoots only the
console's pages (no rating). The fifth rater joins in the browser first: a worker id's session
resumes only in the browser that joined with it.
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


def rate_as(base: str, slug: str, worker: str, rng: random.Random, *, leave: int = 0, cookies: list | None = None) -> int:
    """One rater answers every item but the last `leave` over the annotator API; returns the number of
    votes. With `cookies` (a browser's, which joined already) it rates as that browser."""
    session = requests.Session()
    if cookies is None:
        session.get(f"{base}/s/{slug}/join?worker={worker}").raise_for_status()
    for cookie in cookies or []:
        session.cookies.set(cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"])
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
    for i in range(1, 5):
        print(f"demo-rater-{i}: {rate_as(base, slug, f'demo-rater-{i}', rng)} votes")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{base}/s/{slug}/join?worker=demo-rater-5")
        page.locator("#intro").wait_for()
        save(page.screenshot(), HERE / "first-page.png")
        page.locator("#intro-continue").click()
        # The last rater keeps one item for the screenshots.
        print(f"demo-rater-5: {rate_as(base, slug, 'demo-rater-5', rng, leave=1, cookies=context.cookies())} votes")
        page.reload()
        shoot_rating(page, HERE / "rating-page.png")
        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=1)
        phone.add_cookies(context.cookies())
        shoot_rating(phone.new_page(), HERE / "rating-phone.png", url=f"{base}/s/{slug}/rate")

        researcher = browser.new_page(viewport={"width": 1200, "height": 1500})
        researcher.goto(f"{base}/login/")
        log_in(researcher)
        researcher.goto(f"{base}/studies/{slug}/report.html")
        save(researcher.screenshot(), HERE / "report.png")
        shoot_console(browser, base, slug)
        browser.close()
    print(f"wrote first-page.png, rating-page.png, rating-phone.png and report.png in {HERE}")


def shoot_rating(page, path: Path, url: str | None = None) -> None:
    """The rating page in the middle of an answer, once the videos have played through."""
    if url:
        page.goto(url)
    page.wait_for_function("() => document.getElementById('video-left').currentTime > 0.8")
    quality = page.locator("fieldset[data-question=quality]")
    quality.get_by_label("Right").check()
    quality.get_by_label("Pixel sharpness").check()
    quality.get_by_label("Motion smoothness").check()
    faithfulness = page.locator("fieldset[data-question=faithfulness]")
    faithfulness.get_by_label("Right").check()
    faithfulness.get_by_label("Spatial text alignment").check()
    page.locator("#watched").get_by_text("Watched 100%").wait_for(timeout=30_000)
    save(page.screenshot(), path)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--console"]
    main(arguments[0] if arguments else "http://127.0.0.1:8000", console_only="--console" in sys.argv[1:])
