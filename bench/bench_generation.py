"""Generation throughput (videos per minute) for one fixed configuration, three ways, in one run:

- naive: load the pipeline (`from_pretrained`) for every video, batch 1;
- limit: a hand-written loop that keeps one pipeline loaded and calls it back to back, at batch 1
  and at the batch size (how far batching moves the limit itself);
- service: `generation_queue` -> a real Celery `gpu` worker (cached pipeline, batched calls) ->
  frames on shared storage -> a `media` worker encodes H.264, probes, stores the Video rows.
  The workers are warmed with one job first (a worker keeps its pipelines between jobs).
The limit and the service each report their best of --repeat runs (shared machines are noisy).

The model: the tiny random-weight text-to-video pipeline of `create_tiny_models` (or --model).
Usage: python bench/bench_generation.py [--videos 16] [--batch 4] [--height 64] [--frames 17] [--steps 4]
Uses DATABASE_URL (PostgreSQL; a throwaway test_<name> database is created and dropped) and
CELERY_BROKER_URL; without them, the Makefile's test services on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "juice.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/juice")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = ["a cat running on a beach", "a red car in the city at night", "a panda eating", "aerial view of a forest"]


def prompt_text(i: int) -> str:
    # Words the tiny tokenizer knows, so every prompt fits max_sequence_length and none is the same.
    return f"{PROMPTS[i % len(PROMPTS)]} {('slowly', 'quickly', 'in the rain', 'in space')[i // len(PROMPTS) % 4]}"


def per_minute(videos: int, seconds: float) -> float:
    return videos / seconds * 60


def run_naive(config, videos: int) -> float:
    from generation.pipelines import PipelineCache, Request, videos_generate

    started = time.perf_counter()
    for i in range(videos):
        # A fresh cache each time: the pipeline is loaded from disk for every video.
        videos_generate(config=config, requests=[Request(prompt_text(i), i)], cache=PipelineCache(1))
    return time.perf_counter() - started


def run_limit(config, videos: int, batch: int) -> float:
    """Keep one pipeline loaded and call it back to back; no encoding, no database, no queue."""
    import torch

    from generation.pipelines import PipelineCache, pipeline_key

    pipe = PipelineCache(1).get(pipeline_key(config.pipeline, config.model, config.params))
    args = {k: v for k, v in config.params.items() if k not in {"fps", "batch_size", "dtype", "seed", "scheduler"}}
    pipe(prompt=[prompt_text(0)], generator=[torch.Generator().manual_seed(0)], output_type="np", **args)  # warm-up
    started = time.perf_counter()
    for start in range(0, videos, batch):
        seeds = list(range(start, min(start + batch, videos)))
        pipe(prompt=[prompt_text(i) for i in seeds], generator=[torch.Generator().manual_seed(s) for s in seeds],
             output_type="np", **args)
    return time.perf_counter() - started


def start_worker(queue: str, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "juice", "worker", "-Q", queue, "-c", "1", "-P", "prefork", "-l", "warning",
         "--without-gossip", "--without-mingle", "-n", f"bench-{queue}-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_done(prompt_set, expected: int, timeout: float, log: Path) -> None:
    from generation.models import GenerationJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = GenerationJob.objects.filter(prompt__prompt_set=prompt_set)
        if jobs.filter(status="failed").exists():
            raise SystemExit(f"a job failed: {jobs.filter(status='failed').first().error}")
        if jobs.filter(status="done").count() == expected:
            return
        time.sleep(0.05)
    raise SystemExit(f"service run timed out; worker log:\n{log.read_text()[-3000:]}")


def run_service(system, videos: int, media: Path, scratch: Path, repeat: int) -> float:
    from django.db import connection

    from annotation.models import Prompt, PromptSet
    from generation.jobs import generation_queue

    def prompt_set(name: str, count: int):
        ps = PromptSet.objects.create(name=name)
        Prompt.objects.bulk_create(Prompt(prompt_set=ps, key=f"p{i:04d}", position=i, text=prompt_text(i)) for i in range(count))
        return ps

    db = connection.settings_dict
    env = {**os.environ, "MEDIA_ROOT": str(media),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    log = scratch / "workers.log"
    workers = [start_worker("gpu", env, log), start_worker("media", env, log)]
    try:
        warm = prompt_set("warm-up", 1)
        generation_queue(system=system, prompt_set=warm)
        wait_done(warm, 1, 300, log)
        best = float("inf")
        for run in range(repeat):
            main = prompt_set(f"bench-{run}", videos)
            started = time.perf_counter()
            generation_queue(system=system, prompt_set=main)
            wait_done(main, videos, 1800, log)
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
        for worker in workers:
            worker.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--model", help="a text-to-video pipeline directory (default: the tiny LTX pipeline, built here)")
    parser.add_argument("--pipeline", default="LTXPipeline")
    parser.add_argument("--repeat", type=int, default=2, help="the limit and the service each report their best of this many runs")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="juice-bench-gen-"))
    media = scratch / "media"
    media.mkdir()
    os.environ["MEDIA_ROOT"] = str(media)

    import django

    django.setup()
    import torch
    from django.db import connection

    from generation.pipelines import SystemConfig, device_and_dtype
    from generation.systems import system_add
    from generation.tiny import tiny_models_create

    model = args.model or str(tiny_models_create(directory=scratch / "models")["text-to-video"])
    params = {"num_frames": args.frames, "height": args.height, "width": args.width, "num_inference_steps": args.steps,
              "max_sequence_length": 32, "fps": 8}
    device, dtype = device_and_dtype()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, torch {torch.__version__} on {device} ({dtype}), "
          f"{torch.get_num_threads()} threads")
    print(f"config: {args.pipeline} {args.width}x{args.height}, {args.frames} frames, {args.steps} steps; "
          f"{args.videos} videos, batch {args.batch}")

    results = {}
    one = SystemConfig(pipeline=args.pipeline, model=model, params={**params, "batch_size": 1})
    batched = SystemConfig(pipeline=args.pipeline, model=model, params={**params, "batch_size": args.batch})
    results["naive (load every video, batch 1)"] = run_naive(one, args.videos)
    results["limit, batch 1 (loaded once, back to back)"] = min(run_limit(one, args.videos, 1) for _ in range(args.repeat))
    results[f"limit, batch {args.batch}"] = min(run_limit(batched, args.videos, args.batch) for _ in range(args.repeat))

    original = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        system = system_add(name="bench", pipeline=args.pipeline, model=model, params={**params, "batch_size": args.batch})
        results[f"service, batch {args.batch} (queue, workers, encode, database)"] = run_service(
            system, args.videos, media, scratch, args.repeat
        )
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)

    limit = results[f"limit, batch {args.batch}"]
    print(f"{'way':58} {'seconds':>8} {'videos/min':>11} {'of limit':>9}")
    for way, seconds in results.items():
        print(f"{way:58} {seconds:8.2f} {per_minute(args.videos, seconds):11.1f} {limit / seconds:9.0%}")
    gain = results["limit, batch 1 (loaded once, back to back)"] / limit
    print(f"batching ({args.batch}) moves the limit by x{gain:.2f}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
