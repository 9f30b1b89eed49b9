"""Generation throughput (videos per minute) for one fixed configuration, three ways, in one run:

- naive: load the pipeline (`from_pretrained`) for every video, batch 1;
- limit: a hand-written loop that keeps one pipeline loaded and calls it back to back, at batch 1
  and at the batch size (how far batching moves the limit itself);
- service: `generation_queue` -> a real Celery `gpu` worker (cached pipeline, batched calls) ->
  frames on shared storage -> a `media` worker encodes H.264, probes, stores the Video rows.
  The workers are warmed with one batch first (a worker keeps its pipelines between jobs).
The limit and the service run in interleaved rounds (shared machines are noisy); medians are reported.

The model: the tiny random-weight text-to-video pipeline of `create_tiny_models` (or --model).
Usage: python bench/bench_generation.py [--videos 24] [--batch 4] [--height 64] [--frames 17] [--steps 16]

`--batching` measures instead, for every class whose prompts go to one call as lists (pipelines.run.batches),
videos per minute batched (--batch) against one prompt per call, on the tiny checkpoints of
`create_tiny_models --all` at their own sizes (--steps each; --videos per way and round; interleaved
rounds, medians), with the pipeline loaded once and warmed at each batch shape; printed as a table.
Uses DATABASE_URL (PostgreSQL; a throwaway test_<name> database is created and dropped) and
CELERY_BROKER_URL; without them, the Makefile's test services on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _setup import ROOT, django_setup, throwaway_database

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = ["a cat running on a beach", "a red car in the city at night", "a panda eating", "aerial view of a forest"]


def prompt_text(i: int) -> str:
    # Words the tiny tokenizer knows, so every prompt fits max_sequence_length and none is the same.
    return f"{PROMPTS[i % len(PROMPTS)]} {('slowly', 'quickly', 'in the rain', 'in space')[i // len(PROMPTS) % 4]}"


def per_minute(videos: int, seconds: float) -> float:
    return videos / seconds * 60


def run_naive(config, videos: int) -> tuple[float, float]:
    from generation.pipelines.cache import PipelineCache
    from generation.pipelines.run import Request, videos_generate

    started, cpu = time.perf_counter(), time.process_time()
    for i in range(videos):
        # A fresh cache each time: the pipeline is loaded from disk for every video.
        videos_generate(config=config, requests=[Request(prompt_text(i), i)], cache=PipelineCache(1))
    return time.perf_counter() - started, time.process_time() - cpu


class Limit:
    """One pipeline kept loaded and called back to back; no encoding, no database, no queue."""

    def __init__(self, config) -> None:
        from generation.pipelines.cache import PipelineCache, pipeline_key
        from generation.pipelines.config import OWN_KEYS

        self.pipe = PipelineCache(1).get(pipeline_key(config.pipeline, config.model, config.params))
        self.args = {k: v for k, v in config.params.items() if k not in OWN_KEYS}

    def _call(self, seeds: list[int]) -> None:
        import torch

        self.pipe(prompt=[prompt_text(i) for i in seeds], generator=[torch.Generator().manual_seed(s) for s in seeds],
                  output_type="np", **self.args)

    def run(self, videos: int, batch: int) -> tuple[float, float]:
        """Wall seconds and CPU seconds (all threads of this process)."""
        self._call(list(range(batch)))  # warm-up at the measured batch shape, as the service's workers are warmed
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, videos, batch):
            self._call(list(range(start, min(start + batch, videos))))
        return time.perf_counter() - started, time.process_time() - cpu


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
        time.sleep(0.5)  # the run's end is read from the jobs' finish times, not from this loop
    raise SystemExit(f"service run timed out; worker log:\n{log.read_text()[-3000:]}")


class Service:
    """A `gpu` and a `media` Celery worker on the broker; each run queues a fresh prompt set and waits for its videos."""

    def __init__(self, system, media: Path, scratch: Path, database: str) -> None:
        self.env = {**os.environ, "MEDIA_ROOT": str(media), "DATABASE_URL": database}
        self.system, self.log, self.runs = system, scratch / "workers.log", 0

    def __enter__(self) -> Service:
        self.workers = [start_worker("gpu", self.env, self.log), start_worker("media", self.env, self.log)]
        return self

    def __exit__(self, *exc) -> None:
        for worker in self.workers:
            os.killpg(worker.pid, 15)
        for worker in self.workers:
            worker.wait(timeout=60)

    def cpu_seconds(self) -> float:
        """CPU time of the worker processes and their pool children (not the database's or the broker's)."""
        total = 0.0
        for worker in self.workers:
            parent = psutil.Process(worker.pid)
            for proc in [parent, *parent.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def run(self, videos: int) -> tuple[float, float]:
        """Wall seconds and the workers' CPU seconds from queueing to the last stored video."""
        from django.db.models import Max
        from django.utils import timezone

        from generation.jobs.queueing import generation_queue
        from generation.models import GenerationJob, Prompt, PromptSet

        self.runs += 1
        prompt_set = PromptSet.objects.create(name=f"bench-{self.runs}")
        Prompt.objects.bulk_create(Prompt(prompt_set=prompt_set, key=f"p{i:04d}", position=i, text=prompt_text(i)) for i in range(videos))
        started, cpu = timezone.now(), self.cpu_seconds()
        generation_queue(system=self.system, prompt_set=prompt_set)
        wait_done(prompt_set, videos, 1800, self.log)
        cpu = self.cpu_seconds() - cpu
        finished = GenerationJob.objects.filter(prompt__prompt_set=prompt_set).aggregate(last=Max("finished_at"))["last"]
        return (finished - started).total_seconds(), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--model", help="a text-to-video pipeline directory (default: the tiny LTX pipeline, built here)")
    parser.add_argument("--pipeline", default="LTXPipeline")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of limit and service; medians are reported")
    parser.add_argument("--batching", action="store_true", help="per class: batched against one prompt per call (tiny models)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="juice-bench-gen-") as scratch:
        if args.batching:
            run_batching(args, Path(scratch))
            return
        media = Path(scratch) / "media"
        media.mkdir()
        os.environ["MEDIA_ROOT"] = str(media)
        run(args, Path(scratch), media)


def run_batching(args, scratch: Path) -> None:
    """Per batching class: the median wall time of --videos videos at --batch and at 1, interleaved rounds."""
    django_setup()
    import torch
    from PIL import Image

    from generation.pipelines.cache import PipelineCache
    from generation.pipelines.classes import pipeline_class, pipeline_kind
    from generation.pipelines.config import SystemConfig
    from generation.pipelines.run import Request, batches, videos_generate
    from generation.tiny import TINY_MORE, TINY_PIPELINES, tiny_call_params, tiny_models_create

    video_classes = {k: v for k, v in {**TINY_PIPELINES, **TINY_MORE}.items() if "num_frames" in inspect.signature(
        pipeline_class(v).__call__).parameters}
    chosen = tuple(k for k, v in video_classes.items() if batches(pipeline_class(v)) and k != "allegro")  # Allegro: see README
    models = tiny_models_create(directory=scratch / "models", only=chosen)
    image = scratch / "image.png"
    Image.new("RGB", (32, 32), (90, 120, 150)).save(image)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.videos} videos per way, {args.steps} steps, batch {args.batch} against 1, medians of {args.rounds} rounds")
    print(f"{'class':34} {'size':>10} {'batch 1 /min':>13} {f'batch {args.batch} /min':>13} {'speed-up':>9}")
    for name in chosen:
        class_name = video_classes[name]
        needs_image = pipeline_kind(pipeline_class(class_name)) == "image-to-video"
        requests = [Request(prompt_text(i), i, image if needs_image else None) for i in range(args.videos)]
        cache, params = PipelineCache(1), {**tiny_call_params(name), "num_inference_steps": args.steps, "fps": 8}
        configs = {b: SystemConfig(pipeline=class_name, model=str(models[name]), params={**params, "batch_size": b})
                   for b in (1, args.batch)}
        for config in configs.values():  # load once, warm each batch shape
            videos_generate(config=config, requests=requests[: config.batch_size], cache=cache)
        walls: dict[int, list[float]] = {b: [] for b in configs}
        for _ in range(args.rounds):
            for batch, config in configs.items():
                started = time.perf_counter()
                videos_generate(config=config, requests=requests, cache=cache)
                walls[batch].append(time.perf_counter() - started)
        one, many = (per_minute(args.videos, statistics.median(walls[b])) for b in (1, args.batch))
        size = f"{params['width']}x{params['height']}x{params['num_frames']}"
        print(f"{class_name:34} {size:>10} {one:13.1f} {many:13.1f} {many / one:8.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f}")


def run(args, scratch: Path, media: Path) -> None:
    django_setup()
    import torch

    from generation.pipelines.cache import device_and_dtype
    from generation.pipelines.config import SystemConfig
    from generation.systems.services import system_add
    from generation.tiny import tiny_models_create

    model = args.model or str(tiny_models_create(directory=scratch / "models")["text-to-video"])
    params = {"num_frames": args.frames, "height": args.height, "width": args.width, "num_inference_steps": args.steps,
              "max_sequence_length": 32, "fps": 8}
    device, dtype = device_and_dtype()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, torch {torch.__version__} on {device} ({dtype}), "
          f"{torch.get_num_threads()} threads")
    print(f"config: {args.pipeline} {args.width}x{args.height}, {args.frames} frames, {args.steps} steps; "
          f"{args.videos} videos, batch {args.batch}")

    one = SystemConfig(pipeline=args.pipeline, model=model, params={**params, "batch_size": 1})
    naive = run_naive(one, args.videos)
    limit = Limit(one)
    rounds: dict[str, list[tuple[float, float]]] = {"limit1": [], "limit": [], "service": []}
    with throwaway_database() as database:
        system = system_add(name="bench", pipeline=args.pipeline, model=model, params={**params, "batch_size": args.batch})
        with Service(system, media, scratch, database) as service:
            service.run(args.batch)  # warm-up: the worker loads its pipeline once and keeps it
            # Interleaved rounds: the machine's load changes the limit and the service alike within a round.
            for _ in range(args.rounds):
                rounds["limit1"].append(limit.run(args.videos, 1))
                rounds["limit"].append(limit.run(args.videos, args.batch))
                rounds["service"].append(service.run(args.videos))

    wall = {k: statistics.median(w for w, _ in v) for k, v in rounds.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in rounds.items()}
    rows = [
        ("naive (load every video, batch 1)", *naive),
        ("limit, batch 1 (loaded once, back to back)", wall["limit1"], cpu["limit1"]),
        (f"limit, batch {args.batch}", wall["limit"], cpu["limit"]),
        (f"service, batch {args.batch} (queue, workers, encode, database)", wall["service"], cpu["service"]),
    ]
    print(f"medians of {args.rounds} interleaved rounds (naive: 1 run); 'of limit' compares with limit, batch {args.batch}")
    print(f"{'way':58} {'wall s':>7} {'videos/min':>11} {'of limit':>9} {'CPU s':>7} {'videos/CPU-min':>15} {'of limit':>9}")
    for way, w, c in rows:
        print(f"{way:58} {w:7.2f} {per_minute(args.videos, w):11.1f} {wall['limit'] / w:9.0%} "
              f"{c:7.2f} {per_minute(args.videos, c):15.1f} {cpu['limit'] / c:9.0%}")
    ratios = ", ".join(f"{lw / sw:.0%}" for (lw, _), (sw, _) in zip(rounds["limit"], rounds["service"], strict=True))
    print(f"service / limit (wall) per round: {ratios}; service overhead "
          f"{(wall['service'] - wall['limit']) / args.videos * 1000:.0f} ms per video (wall), "
          f"{(cpu['service'] - cpu['limit']) / args.videos * 1000:.0f} ms (CPU)")
    print(f"batching ({args.batch}) moves the limit by x{wall['limit1'] / wall['limit']:.2f} (wall), "
          f"x{cpu['limit1'] / cpu['limit']:.2f} (CPU); load average {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
