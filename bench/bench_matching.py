"""Matching throughput: a study of 100 prompts and 3 systems in all 3 pairs (300 items, 600 sides).

Two ways over the same sources and the same encoder settings (x264 superfast, CRF 18):
- naive: one ffmpeg per item and side, one after the other, nothing reused (ffmpeg picks its threads);
- platform: `study_create` with a real Celery media worker running two encodes at once (one x264
  thread each on two cores), each source encoded once per target and reused across its two pairs.

The three systems produce the same format (512x512, 16 fps, 5 s H.264), as one pipeline family
would: the targets of a source's two pairs then coincide and the encode is shared. Sources of
different formats get different targets and would be encoded once per pair, as naive does.

Usage: python bench/bench_matching.py [--prompts 100] [--concurrency 2]
Uses DATABASE_URL (PostgreSQL; a throwaway test_<name> database is created and dropped) and
CELERY_BROKER_URL; without them, the Makefile's test services on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, django_setup, throwaway_database

CLIP_SECONDS = 5
SYSTEMS = ("alpha", "beta", "gamma")


def make_sources(folder: Path, prompts: int) -> dict[str, list[Path]]:
    """One distinct file per system and prompt (copies of one ffmpeg-made clip per system)."""
    from tests.support.media import make_video

    sources = {}
    for n, system in enumerate(SYSTEMS):
        pattern = ("testsrc2", "testsrc", "smptehdbars")[n]
        clip = make_video(folder / f"{system}.mp4", width=512, height=512, fps=16, seconds=CLIP_SECONDS, source=pattern)
        sources[system] = []
        for p in range(prompts):
            path = folder / system / f"p{p + 1:04d}.mp4"
            path.parent.mkdir(exist_ok=True)
            shutil.copyfile(clip, path)
            sources[system].append(path)
    return sources


def build_rows(sources: dict[str, list[Path]], prompts: int):
    from tests.support.builders import add_video, external_system, prompt_set

    rows = prompt_set(name="bench", count=prompts)
    systems = [external_system(name) for name in SYSTEMS]
    for system in systems:
        for prompt, path in zip(rows.prompts.order_by("position"), sources[system.name], strict=True):
            add_video(system, prompt, path)
    return rows, systems


def run_naive(prompt_set, systems, out: Path) -> tuple[float, int, float]:
    """Every item, both sides, one ffmpeg at a time, nothing reused; returns wall s, encodes, slowest encode s."""
    from generation.matching.encodes import encode_file
    from generation.matching.policy import match_target, policy_parse
    from generation.models import Video

    policy = policy_parse(None)
    videos = {(v.system_id, v.prompt_id): v for v in Video.objects.filter(prompt__prompt_set=prompt_set)}
    pairs = [(systems[0], systems[1]), (systems[0], systems[2]), (systems[1], systems[2])]
    encodes, slowest = 0, 0.0
    started = time.perf_counter()
    for a, b in pairs:
        for prompt in prompt_set.prompts.all():
            va, vb = videos[(a.pk, prompt.pk)], videos[(b.pk, prompt.pk)]
            params = match_target(va, vb, policy)
            for side, video in (("a", va), ("b", vb)):
                began = time.perf_counter()
                encode_file(video.file.path, params[side], out / f"{a.name}-{b.name}-{prompt.key}-{side}.mp4")
                slowest = max(slowest, time.perf_counter() - began)
                encodes += 1
    return time.perf_counter() - started, encodes, slowest


def start_worker(env: dict, concurrency: int, log: Path) -> subprocess.Popen:
    from juice.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("media")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "juice", "worker", "-Q", "media", "-c", str(concurrency), "-l", "warning",
         "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[f"bench-{os.getpid()}@{os.uname().nodename}"], timeout=1):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the media worker did not start:\n{log.read_text()}")
    return worker


def run_platform(prompt_set, systems) -> tuple[float, int, float, float]:
    """The study as the platform runs it; returns wall s, encodes, mean and slowest encode s (as recorded)."""
    from django.db.models import Avg, Max

    from annotation.models import Study
    from annotation.studies.schemas import StudySpec
    from annotation.studies.services import study_create
    from generation.models import MatchedVideo

    started = time.perf_counter()
    pairs = [(systems[0], systems[1]), (systems[0], systems[2]), (systems[1], systems[2])]
    study = study_create(spec=StudySpec(name="bench", prompt_set=prompt_set.name, pairs=[(a.name, b.name) for a, b in pairs]))
    while Study.objects.values_list("status", flat=True).get(pk=study.pk) != Study.Status.OPEN:
        if MatchedVideo.objects.filter(status=MatchedVideo.Status.FAILED).exists():
            raise SystemExit(f"an encode failed: {MatchedVideo.objects.filter(status='failed').first().error}")
        time.sleep(0.2)
    wall = time.perf_counter() - started
    stats = MatchedVideo.objects.aggregate(mean=Avg("encode_seconds"), slowest=Max("encode_seconds"))
    return wall, MatchedVideo.objects.count(), stats["mean"], stats["slowest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2, help="encodes at once in the media worker")
    args = parser.parse_args()

    media = Path(tempfile.mkdtemp(prefix="juice-bench-"))
    django_setup(media_root=media / "media")
    worker = None
    with throwaway_database() as database:
        try:
            print(f"making {len(SYSTEMS) * args.prompts} source clips (512x512, 16 fps, {CLIP_SECONDS} s)...", flush=True)
            sources = make_sources(media / "sources", args.prompts)
            prompt_set, systems = build_rows(sources, args.prompts)
            items = 3 * args.prompts
            cores = os.cpu_count() or 1
            threads = max(1, cores // args.concurrency)

            naive_out = media / "naive"
            naive_out.mkdir()
            naive_s, naive_encodes, naive_slowest = run_naive(prompt_set, systems, naive_out)
            print(f"naive:    {items} pairs, {naive_encodes} encodes in {naive_s:.1f} s", flush=True)

            env = {**os.environ, "DATABASE_URL": database, "JUICE_FFMPEG_THREADS": str(threads)}
            worker = start_worker(env, args.concurrency, media / "worker.log")
            platform_s, platform_encodes, platform_clip, platform_slowest = run_platform(prompt_set, systems)
            print(f"platform: {items} pairs, {platform_encodes} encodes in {platform_s:.1f} s "
                  f"({args.concurrency} at once, {threads} x264 thread(s) each)", flush=True)

            naive_rate, platform_rate = items / naive_s * 60, items / platform_s * 60
            naive_clip = naive_s / naive_encodes
            print()
            print("| run      | pairs/min | encodes | mean s per clip | x real time (mean) | x real time (slowest clip) |")
            print("|----------|-----------|---------|-----------------|--------------------|----------------------------|")
            for run, rate, encodes, clip, slowest in (
                ("naive", naive_rate, naive_encodes, naive_clip, naive_slowest),
                ("platform", platform_rate, platform_encodes, platform_clip, platform_slowest),
            ):
                print(
                    f"| {run:<8} | {rate:9.1f} | {encodes:7d} | {clip:15.2f} | {CLIP_SECONDS / clip:18.1f} | "
                    f"{CLIP_SECONDS / slowest:26.1f} |"
                )
            print(f"speedup: {platform_rate / naive_rate:.2f}x naive on {cores} cores")
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=60)
            shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
