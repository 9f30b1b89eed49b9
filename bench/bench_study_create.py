"""Study creation from the web answers before matching has run: the time of `POST /studies/new` for a
study of 200 items (goal: under 1 s), and the study's status when the answer arrives (preparing).

The study is 100 prompts in 2 pairs of 3 external systems; the videos are rows with probed formats
(matching's targets are computed from them when the study is created; no encode runs here: no
media worker is started, and the queued message is purged afterwards).

Usage: python bench/bench_study_create.py [--prompts 100] [--runs 3]
Uses DATABASE_URL (PostgreSQL; a throwaway test_<name> database is created and dropped) and
CELERY_BROKER_URL; without them, the Makefile's test services on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _setup import django_setup, throwaway_database

GOAL_SECONDS = 1.0
FORMATS = {"alpha": (512, 512, 16.0, 5.0), "beta": (768, 432, 24.0, 4.0), "gamma": (480, 480, 8.0, 2.0)}


def build_rows(prompts: int):
    """A prompt set and three external systems with a video row for every prompt."""
    from tests.support.builders import external_system, prompt_set, video_rows

    rows = prompt_set(name="bench", count=prompts)
    for name, (width, height, fps, seconds) in FORMATS.items():
        video_rows(external_system(name), rows.prompts.all(), width=width, height=height, fps=fps, seconds=seconds)
    return rows


def post_study(client, prompt_set, name: str) -> tuple[float, int, str, int]:
    """POST the creation form; returns seconds to the answer, its status, the study's status then, items."""
    from annotation.models import Study

    form = {"name": name, "prompt_set": prompt_set.pk, "pairs": "alpha, beta\nalpha, gamma", "raters_per_item": "5",
            "questions": ["quality", "faithfulness"], "lease_seconds": "600", "attention_items": "0",
            "matching_aspect": "pad", "matching_fps": "8", "matching_duration": "shortest"}
    started = time.perf_counter()
    response = client.post("/studies/new", form)
    seconds = time.perf_counter() - started
    study = Study.objects.get(name=name)
    return seconds, response.status_code, study.status, study.items.count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100, help="prompts; the study has 2 pairs, so twice as many items")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    media = Path(tempfile.mkdtemp(prefix="juice-bench-"))
    django_setup(media_root=media / "media")
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    from juice.celery import app

    if app.conf.task_always_eager:
        raise SystemExit("the benchmark needs a broker: set CELERY_BROKER_URL=redis://...")
    setup_test_environment()
    with throwaway_database(), _cleaned(app, media):
        prompt_set = build_rows(args.prompts)
        client = Client()
        client.force_login(get_user_model().objects.create_user("bench", is_staff=True))
        started = time.perf_counter()
        client.get("/studies/new")  # a served site has loaded its URLs and views before the researcher posts
        print(f"first page of the process (URLs and views loaded): {time.perf_counter() - started:.3f} s", flush=True)
        times = []
        for run in range(1, args.runs + 1):
            seconds, status, study_status, items = post_study(client, prompt_set, f"bench {run}")
            if status != 302:
                raise SystemExit(f"the form answered {status}, not a redirect to the study page")
            times.append(seconds)
            print(f"run {run}: POST /studies/new answered {status} in {seconds:.3f} s; {items} items, study {study_status}", flush=True)
        best, median = min(times), statistics.median(times)
        print(f"median {median:.3f} s, best {best:.3f} s; goal under {GOAL_SECONDS:g} s: {'met' if median < GOAL_SECONDS else 'MISSED'}")


@contextmanager
def _cleaned(app, media: Path) -> Iterator[None]:
    """Afterwards the queued matching message is purged (no media worker ran) and the media removed."""
    try:
        yield
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("media")
        shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
