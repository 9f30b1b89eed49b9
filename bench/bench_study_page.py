"""The researcher's study page on a big study: the CPU time and size of `GET /studies/<slug>` (goal: under
100 ms of this process's CPU at 100,000 vote rows) and of the live refresh's answer, which each open tab
fetches every 10 seconds (`GET /studies/<slug>/live`, where the code has it).

The study is bench_report_cache.py's (3 systems in all 3 pairs, 5 raters per item, 2 questions, 200
raters), prefilled with its bulk inserts and ANALYZEd; the rater figures that need the votes are computed once, as
the background does (where the code has them), then each page is fetched `--runs` times through
Django's test client in this process. CPU is `time.process_time()` of this process around each request
(Django, templates and the database driver; PostgreSQL's own CPU is not counted), beside the wall time.

Usage: python bench/bench_study_page.py [--votes 100000] [--runs 15]
Uses DATABASE_URL (PostgreSQL; a throwaway test_<name> database is created and dropped).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _prefill import votes_prefill
from _setup import django_setup, throwaway_database
from bench_report_cache import QUESTIONS, RATERS_PER_ITEM, SYSTEMS

GOAL_MS = 100.0


def measured(client, url: str, runs: int) -> tuple[list[float], list[float], int, int]:
    """CPU and wall milliseconds of each GET of `url` (the first, which loads templates, left out), its status and size."""
    client.get(url)
    cpu, wall = [], []
    for _ in range(runs):
        started_cpu, started = time.process_time(), time.perf_counter()
        response = client.get(url)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return cpu, wall, response.status_code, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000, help="vote rows to prefill")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    media = Path(tempfile.mkdtemp(prefix="juice-bench-"))
    django_setup(media_root=media, broker="", JUICE_REPORTS_DIR=str(media / "reports"), ALLOWED_HOSTS="*")
    from django.db import connection
    from django.test import Client

    from juice.auth import researcher_create
    from tests.support.builders import build_open_study

    try:
        figures = importlib.import_module("annotation.studies.figures")
    except ModuleNotFoundError:  # the code before the study page's figures were kept
        figures = None
    try:
        with throwaway_database():
            prompts = -(-args.votes // (len(QUESTIONS) * RATERS_PER_ITEM * SYSTEMS * (SYSTEMS - 1) // 2))
            study = build_open_study(n_prompts=prompts, n_systems=SYSTEMS, raters=RATERS_PER_ITEM, copy_files=False, name="Bench")
            rows = votes_prefill(study, args.votes, balanced=False)
            with connection.cursor() as cursor:  # as autovacuum does after such inserts: plans from true row counts
                cursor.execute("ANALYZE")
            print(f"study: {study.items.count()} items, {study.raters.count()} raters, {rows} vote rows")
            if figures is not None:
                started = time.perf_counter()
                figures.rater_figures_store(study=study)
                print(f"rater figures computed (the background's work): {time.perf_counter() - started:.2f} s")
            user, _ = researcher_create(username="bench", password=os.urandom(12).hex())
            client = Client()
            client.force_login(user)
            pages = [("study page", f"/studies/{study.slug}")]
            if figures is not None:
                pages.append(("live refresh JSON", f"/studies/{study.slug}/live"))
            for name, url in pages:
                cpu, wall, status, size = measured(client, url, args.runs)
                print(f"{name} ({status}, {size / 1024:.1f} KB): CPU median {statistics.median(cpu):.1f} ms "
                      f"(max {max(cpu):.1f}), wall median {statistics.median(wall):.1f} ms over {args.runs} requests "
                      f"(goal < {GOAL_MS:.0f} ms CPU)")
            if figures is not None:  # a tab whose figures did not move since its last fetch
                etag = client.get(pages[1][1])["ETag"]
                client.defaults["HTTP_IF_NONE_MATCH"] = etag
                cpu, wall, status, size = measured(client, pages[1][1], args.runs)
                del client.defaults["HTTP_IF_NONE_MATCH"]
                print(f"live refresh, nothing moved ({status}, {size} bytes): CPU median {statistics.median(cpu):.1f} ms, "
                      f"wall median {statistics.median(wall):.1f} ms")
    finally:
        shutil.rmtree(media, ignore_errors=True)
        os.environ.pop("JUICE_REPORTS_DIR", None)


if __name__ == "__main__":
    main()
