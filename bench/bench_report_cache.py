"""The report page from cache on a big study: the time of `GET /studies/<slug>/report.html` (and of the
JSON API) when the report was computed in the background (goal: under 200 ms at 100,000 vote rows),
beside the time of the computation itself, which no web request pays any more.

The study is 3 systems in all 3 pairs (the test builders' systems) on enough prompts that, at 5 raters per item and 2 questions,
the votes fill `--votes` rows; they are written in bulk (bench/_prefill.py),
then the report is computed once (as the background does) and the pages are fetched `--runs` times
through Django's test client, in this process, with the vote's state check included.

Usage: python bench/bench_report_cache.py [--votes 100000] [--runs 20]
Uses DATABASE_URL (PostgreSQL; a throwaway test_<name> database is created and dropped).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _prefill import votes_prefill
from _setup import django_setup, throwaway_database

GOAL_MS = 200.0
SYSTEMS, RATERS_PER_ITEM, QUESTIONS = 3, 5, ("quality", "faithfulness")


def timed(client, url: str, runs: int) -> tuple[list[float], int, int]:
    """Milliseconds of each GET of `url`, its status and its size."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return times, response.status_code, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000, help="vote rows to prefill")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    media = Path(tempfile.mkdtemp(prefix="juice-bench-"))
    django_setup(media_root=media, broker="", JUICE_REPORTS_DIR=str(media / "reports"), ALLOWED_HOSTS="*")
    from django.test import Client

    from annotation.reports.cache import report_cached, report_compute
    from juice.auth import api_token_create, researcher_create
    from tests.support.builders import build_open_study

    try:
        with throwaway_database():
            prompts = -(-args.votes // (len(QUESTIONS) * RATERS_PER_ITEM * SYSTEMS * (SYSTEMS - 1) // 2))
            started = time.perf_counter()
            study = build_open_study(n_prompts=prompts, n_systems=SYSTEMS, raters=RATERS_PER_ITEM, copy_files=False, name="Bench")
            rows = votes_prefill(study, args.votes, balanced=False)
            print(f"study: {SYSTEMS} systems in all pairs, {prompts} prompts, {study.items.count()} items; "
                  f"{rows} vote rows prefilled in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            report_compute(study.pk)
            print(f"report computed (the background's work, every format): {time.perf_counter() - started:.2f} s")
            assert report_cached(study=study).up_to_date
            user, _ = researcher_create(username="bench", password=os.urandom(12).hex())
            client = Client()
            client.force_login(user)
            api = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}")
            for name, who, url in (("report page", client, f"/studies/{study.slug}/report.html"),
                                   ("JSON API", api, f"/api/studies/{study.slug}/report")):
                times, status, size = timed(who, url, args.runs)
                rest = times[1:]  # the first request of a process loads templates and URL patterns
                print(f"{name} from cache ({status}, {size / 1024:.0f} KB): first {times[0]:.1f} ms, then median "
                      f"{statistics.median(rest):.1f} ms, max {max(rest):.1f} ms over {len(rest)} requests (goal < {GOAL_MS:.0f} ms)")
    finally:
        shutil.rmtree(media, ignore_errors=True)
        os.environ.pop("JUICE_REPORTS_DIR", None)


if __name__ == "__main__":
    main()
