"""Headless Chromium (Debian's) driven by Playwright, for the browser tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from django.db import connection
from playwright.sync_api import Browser, BrowserContext, sync_playwright

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Every page of a watched context reports each Content-Security-Policy violation to the console, as the
# browser tells the page (the securitypolicyviolation event); Chromium's own console line about it does
# not reach Playwright.
VIOLATION = "CSP violation:"
_REPORT_VIOLATIONS = f"""
document.addEventListener("securitypolicyviolation", (e) => console.error(
  "{VIOLATION} " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline code") + " on " + e.documentURI
  + (e.sample ? " (" + e.sample + ")" : "")));
"""


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium. Tests touch the database only outside this block: inside, Playwright's
    event loop gives the ORM a connection of its own that would outlive the test database."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def policy_violations(context: BrowserContext) -> list[str]:
    """The list, filled as pages of `context` load and run, of every Content-Security-Policy violation and
    Permissions-Policy header error they meet. Call before opening the pages."""
    found = []
    context.add_init_script(_REPORT_VIOLATIONS)
    context.on("console", lambda message: found.append(message.text)
               if message.text.startswith(VIOLATION) or "Permissions-Policy" in message.text else None)
    return found


def outside_the_browser(work: Callable[[], object]) -> None:
    """Database work while the browser is open, in a thread of its own (the ORM refuses Playwright's
    event loop), whose connection is closed after it; its error is raised here."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(run).result()
