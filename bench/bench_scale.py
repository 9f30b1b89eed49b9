"""A real-size study under load: votes, `next`, the study page and the report at 0 to 100,000 vote rows.

    .venv/bin/python bench/bench_scale.py [--rows 0,20000,60000,100000] [--kinds plain,crowd,dynamic]
        [--seconds 30] [--raters 100] [--rate 200] [--code .,/tmp/votes-old] [--workers N] [--threads N]

For each size (`--rows`, vote rows already in the study) and kind, it builds a study of 9 systems in
all 36 pairs, on enough prompts (300 at least) that items remain to claim after the prefill:
- plain: 5 raters per item, quality and faithfulness;
- crowd: the same with a minimum watch time, a qualification of 2 pairs and early stopping;
- dynamic: the same as plain with dynamic evaluation (its pairs' states settled once after the prefill).
The prefill (bench/_prefill.py) finishes items with votes split evenly between their systems, so a
dynamic study's pairs stay open. Then it serves the study with gunicorn on PostgreSQL and one Celery
worker (background work: settlements, reports), runs `--raters` paced raters offering `--rate` votes/s
(bench/_load.py) and prints votes/s, the p50/p99 of `next` and vote, server CPU per vote (gunicorn's
processes plus the worker) and PostgreSQL CPU per vote (of the backends connected to the run's database,
so other work on the machine is left out); afterwards, on the quiet server, the study page's
and the report page's response times (the report once the background has computed it).

`--code` names checkouts to compare (default: this one), each served from its own code on a database
migrated by its own migrations; they run interleaved (each size and kind on every checkout in turn),
so a busy moment of the shared machine falls on all of them alike. Every checkout needs a `.venv`.
Each run's database is `<DATABASE_URL's name>_scale<n>`, dropped afterwards; the broker is
CELERY_BROKER_URL (default: the local test Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlparse

from _load import Browser, load_measure, process_cpu_seconds, wait_until_idle
from _setup import ROOT, bench_environment, database_drop, django_setup, postgres_url

SYSTEMS, RATERS_PER_ITEM, QUESTIONS = 9, 5, 2
MIN_PROMPTS = 300
PAGE_RUNS = 5
KINDS = {
    "plain": {},
    "crowd": {"min_watch_ms": 3000, "early_stop": True,
              # Every mistake allowed: the raters answer blind and must all be admitted.
              "qualification": {"items": [{"prompt": "p0001", "pair": ["SecretModelX", "SecretModelY"],
                                           "answers": {"quality": "SecretModelX", "faithfulness": "SecretModelX"}},
                                          {"prompt": "p0002", "pair": ["SecretModelX", "SecretModelZ"],
                                           "answers": {"quality": "SecretModelX", "faithfulness": "SecretModelX"}}],
                                "mistakes_allowed": 2}},
    "dynamic": {"dynamic": True},
}


def prompts_for(rows: int, spare_votes: float) -> int:
    """Prompts enough for `rows` prefilled vote rows plus the items the load may take (every pair)."""
    pairs = SYSTEMS * (SYSTEMS - 1) // 2
    finished = rows // (RATERS_PER_ITEM * QUESTIONS)
    return max(MIN_PROMPTS, -(-(finished + int(spare_votes)) // pairs))


def build(kind: str, rows: int, prompts: int) -> None:
    """(In a process of its own, on DATABASE_URL, already migrated.) Build and prefill the study; print
    its slug and a researcher's session cookie as JSON."""
    django_setup()
    from _prefill import votes_prefill
    from django.test import Client

    from annotation.rating import dynamic
    from juice.auth import researcher_create
    from tests.support.builders import build_open_study

    started = time.perf_counter()
    study = build_open_study(n_prompts=prompts, n_systems=SYSTEMS, raters=RATERS_PER_ITEM, copy_files=False,
                             name=f"Scale {kind} {rows}", **KINDS[kind])
    written = votes_prefill(study, rows)
    if study.dynamic:  # from every vote: the prefill marks no item for the incremental run (older code: its only way)
        getattr(dynamic, "study_pairs_rebuild", dynamic.study_pairs_settle)(study_id=study.pk)
    user, _ = researcher_create(username="bench", password=os.urandom(12).hex())
    client = Client()
    client.force_login(user)
    print(json.dumps({"slug": study.slug, "session": client.cookies["sessionid"].value, "rows": written,
                      "items": study.items.count(), "seconds": round(time.perf_counter() - started, 1)}))


def run_checked(command: list[str], **kwargs) -> str:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode:
        sys.exit(f"error: {' '.join(command[:3])} ... failed:\n{done.stderr[-3000:]}")
    return done.stdout


def template_database(code: Path, name: str) -> str:
    """A database migrated by `code`'s migrations, to copy for each run (a migration takes long; a copy does not)."""
    url = postgres_url(name)
    database_drop(url, create=True)
    run_checked([str(code / ".venv/bin/python"), "manage.py", "migrate", "-v", "0"], cwd=code, env={**os.environ, "DATABASE_URL": url})
    return url


def database_copy(template: str, url: str) -> None:
    import psycopg

    name, source = urlparse(url).path.lstrip("/"), urlparse(template).path.lstrip("/")
    database_drop(url)
    with psycopg.connect(urlparse(url)._replace(path="/postgres").geturl(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')


@contextmanager
def served(code: Path, env: dict[str, str], port: int, log: Path):
    """gunicorn and a Celery worker from checkout `code`; yields (gunicorn's pid, the worker's pid)."""
    from tests.support.servers import wait_for_port

    with ExitStack() as stack, open(log, "ab") as out:
        worker = subprocess.Popen(
            [str(code / ".venv/bin/celery"), "-A", "juice", "worker", "-Q", "media", "--concurrency", "1", "-P", "prefork",
             "--without-gossip", "--without-mingle", "-n", f"scale-{port}@%h", "--loglevel", "WARNING"],
            cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        stack.callback(_stop, worker)
        server = subprocess.Popen(
            [str(code / ".venv/bin/gunicorn"), "juice.wsgi", "-c", str(code / "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}",
             "--log-level", "warning"],
            cwd=code, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        stack.callback(_stop, server)
        try:
            wait_for_port(port, server)
        except RuntimeError as exc:
            sys.exit(f"error: gunicorn did not start: {exc} (see {log})")
        wait_until_idle(server.pid, int(env.get("JUICE_WEB_WORKERS") or os.cpu_count() or 1))
        yield server.pid, worker.pid


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _page_times(port: int, session: str, path: str, server_pids: list[int], wait_ready: float) -> dict:
    """The response time of `path` (a researcher's page) on the quiet server, and the server CPU per request;
    a 202 (a report being computed) is asked again until ready, for up to `wait_ready` seconds."""
    browser = Browser(port)
    browser.cookies["sessionid"] = session
    deadline = time.time() + wait_ready
    status, content = await browser.request("GET", path)
    while status == 202 and time.time() < deadline:
        time.sleep(1)
        status, content = await browser.request("GET", path)
    times, cpu = [], 0.0
    for _ in range(PAGE_RUNS):
        before, started = sum(process_cpu_seconds(p) for p in server_pids), time.perf_counter()
        status, content = await browser.request("GET", path)
        times.append((time.perf_counter() - started) * 1000)
        cpu += sum(process_cpu_seconds(p) for p in server_pids) - before
    return {"status": status, "kb": round(len(content) / 1024), "median_ms": round(sorted(times)[len(times) // 2], 1),
            "server_cpu_ms": round(cpu * 1000 / PAGE_RUNS, 1)}


def one_run(code: Path, template: str, kind: str, rows: int, args, port: int) -> dict:
    import asyncio

    url, configured = postgres_url(f"_scale{port}"), os.environ["DATABASE_URL"]
    database_copy(template, url)
    env = bench_environment(database=url, broker=None, media_root=ROOT / "bench" / "out" / "scale-media", fast_raters=True,
                            JUICE_REPORTS_DIR=str(ROOT / "bench" / "out" / f"scale-reports-{port}"),
                            **args.sizes)
    try:
        built = json.loads(run_checked([sys.executable, __file__, "--build", kind, "--rows", str(rows), "--prompts",
                                        str(prompts_for(rows, args.rate * args.seconds / RATERS_PER_ITEM * 1.5))],
                                       env=env).splitlines()[-1])
        log = ROOT / "bench" / "out" / "scale-server.log"
        with served(code, env, port, log) as (server, worker):
            figures, _ = load_measure(port=port, slug=built["slug"], raters=args.raters, rate=args.rate, seconds=args.seconds,
                                      server_pids=[server, worker], qualify=kind == "crowd",
                                      database=urlparse(url).path.lstrip("/"))
            pages = {name: asyncio.run(_page_times(port, built["session"], path, [server, worker], wait_ready=120))
                     for name, path in (("study_page", f"/studies/{built['slug']}"),
                                        ("report_page", f"/studies/{built['slug']}/report.html"))}
    finally:
        database_drop(url)
        os.environ["DATABASE_URL"] = configured  # bench_environment set the run's: the next run's name derives from this one
    return {"built": built, **figures, **pages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="0,20000,60000,100000", help="vote rows to prefill, comma-separated")
    parser.add_argument("--kinds", default="plain,crowd,dynamic", help=f"of {', '.join(KINDS)}, comma-separated")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--raters", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200, help="votes per second offered in all; 0: as fast as answered")
    parser.add_argument("--code", default=".", help="checkouts to serve from, comma-separated (compared interleaved)")
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker (default: gunicorn.conf.py's)")
    parser.add_argument("--build", choices=list(KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, int(args.rows), args.prompts)
        return

    django_setup()  # DATABASE_URL and CELERY_BROKER_URL as set, or the local test services; the raters need Django
    from tests.support.servers import free_port

    args.sizes = {name: str(value) for name, value in (("JUICE_WEB_WORKERS", args.workers), ("JUICE_WEB_THREADS", args.threads))
                  if value}
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        sys.exit(f"error: --kinds: unknown {', '.join(sorted(unknown))}")
    codes = [Path(c).resolve() for c in args.code.split(",")]
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    templates = {code: template_database(code, f"_scale_template{n}") for n, code in enumerate(codes)}
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            for kind in kinds:
                for code in codes:
                    result = one_run(code, templates[code], kind, rows, args, free_port())
                    b = result.pop("built")
                    print(json.dumps({"code": str(code), "kind": kind, "rows": b["rows"], "items": b["items"],
                                      "build_s": b["seconds"], **{k: result[k] for k in SUMMARY}}), flush=True)
    finally:
        for template in templates.values():
            database_drop(template)


SUMMARY = ("votes_per_s", "next_p50_ms", "next_p99_ms", "vote_p50_ms", "vote_p99_ms", "server_cpu_ms_per_vote",
           "postgres_cpu_ms_per_vote", "errors", "study_page", "report_page", "machine_busy_percent", "load_average_1min")


if __name__ == "__main__":
    main()
