"""Load benchmark of the annotator API: gunicorn on PostgreSQL, simulated raters over HTTP, then the invariants.

    .venv/bin/python bench/bench_annotation.py [--raters 100] [--rate 200] [--items 4000] [--seconds 30]

It creates (and afterwards drops) its own database, `<DATABASE_URL's name>_bench`, builds an open
study of `--items` items x 5 raters, serves the site with gunicorn on 127.0.0.1, and runs `--raters`
simulated raters (join, then next / vote until nothing is left or time is up) from a few client
processes. Like the rating page, a rater calls `next` for its first assignment and then votes with
`?next=1`, whose answer holds the next assignment; `--separate-next` has it call `next` after every
vote instead, as a client of the plain interface in CONTRACT.md would. Together the raters offer
`--rate` votes per second, each pacing itself as a person watching videos would; `--rate 0` has
every rater send its next request as soon as the last is answered, which measures the most the
server takes (its latency is then queueing: with N raters and X requests per second answered, a
request waits about N / X seconds). It prints votes per second, the p50/p99 latency of `next` and
`vote` and the CPU each party used, then checks in the database that no item has more votes than
raters, no rater saw an item twice, and every 201 answered is a stored vote. Load goes to 127.0.0.1
only and stops after `--seconds`.
"""

from __future__ import annotations

import argparse
import json
import runpy
import signal
import subprocess
import sys
import time
from urllib.parse import urlparse

from _load import load_measure, wait_until_idle
from _setup import ROOT, bench_environment, database_drop, django_setup, postgres_url

BENCH_OUT = ROOT / "bench" / "out"
# The floor the annotator API must hold (issue "Architecture"): 1,000 crowd raters at 20 s a rating
# send 50 votes/s; 200 leaves a wide margin.
GOAL_VOTES_PER_S = 200


def build_study(items: int) -> str:
    """Migrate the bench database and build the open study in it; returns its slug."""
    django_setup(migrate=True)
    from tests.support.builders import build_open_study

    study = build_open_study(n_prompts=items, raters=5, copy_files=False, name="Bench study")
    return study.slug


def check_invariants(slug: str, accepted: int) -> list[str]:
    from django.db.models import Count, F, Q

    from annotation.models import Assignment, Item, Rater, Vote

    problems = []
    items = Item.objects.filter(study__slug=slug)
    if items.filter(votes_done__gt=F("raters_needed")).exists() or items.filter(claimed__gt=F("raters_needed")).exists():
        problems.append("an item has more raters than it needs")
    voted = Assignment.objects.filter(item__study__slug=slug, status="voted")
    per_item = voted.values("item").annotate(n=Count("pk"), raters=Count("rater", distinct=True))
    if any(row["n"] != row["raters"] or row["n"] > 5 for row in per_item):
        problems.append("a rater voted twice on an item, or an item has more than 5 votes")
    if voted.count() != accepted:
        problems.append(f"{accepted} votes answered 201 but {voted.count()} are stored")
    if Vote.objects.filter(assignment__item__study__slug=slug).count() != 2 * voted.count():
        problems.append("a voted assignment lacks a question's vote")
    counted = items.annotate(voted=Count("assignments", filter=Q(assignments__status="voted")))
    if counted.exclude(votes_done=F("voted")).exists():
        problems.append("an item's votes_done disagrees with its stored votes")
    raters = Rater.objects.filter(study__slug=slug).annotate(voted=Count("assignments", filter=Q(assignments__status="voted")))
    if raters.exclude(votes_done=F("voted")).exists():
        problems.append("a rater's votes_done disagrees with its stored votes")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=100)
    parser.add_argument("--items", type=int, default=4000, help="enough for over a minute at 300 votes/s")
    parser.add_argument("--seconds", type=float, default=30, help="stop the load after this long even if items remain")
    parser.add_argument("--rate", type=float, default=GOAL_VOTES_PER_S,
                        help="votes per second the raters offer together (each rater paces itself); 0: as fast as answered")
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker (default: gunicorn.conf.py's)")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--separate-next", action="store_true",
                        help="call next after every vote instead of asking for it in the vote's answer (?next=1) as the rating page does")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    url = postgres_url("_bench")
    BENCH_OUT.mkdir(parents=True, exist_ok=True)
    sizes = {"JUICE_WEB_WORKERS": str(args.workers)} if args.workers else {}
    if args.threads:
        sizes["JUICE_WEB_THREADS"] = str(args.threads)
    env = bench_environment(database=url, broker="", media_root=BENCH_OUT / "media", fast_raters=True, **sizes)
    from tests.support.servers import free_port, wait_for_port

    gunicorn_conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    database_drop(url, create=True)
    started = time.time()
    slug = build_study(args.items)
    print(f"built a study of {args.items} items x 5 raters in {time.time() - started:.1f} s")

    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "juice.wsgi", "-c", str(ROOT / "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    try:
        try:
            wait_for_port(port, server)
        except RuntimeError as exc:
            sys.exit(f"error: gunicorn did not start: {exc}")
        wait_until_idle(server.pid, gunicorn_conf["workers"])
        load, accepted = load_measure(port=port, slug=slug, raters=args.raters, rate=args.rate, seconds=args.seconds,
                                      server_pids=[server.pid], clients=args.clients, separate=args.separate_next,
                                      database=urlparse(url).path.lstrip("/"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    figures = {
        "items": args.items, "gunicorn": f"{gunicorn_conf['workers']} workers x {gunicorn_conf['threads']} threads",
        "next": "after every vote" if args.separate_next else "in the vote's answer (?next=1), as the rating page asks",
        **load,
    }
    print(json.dumps(figures, indent=2))
    problems = check_invariants(slug, accepted)
    print("invariants: " + ("OK" if not problems else "; ".join(problems)))
    from django.db import connections

    connections.close_all()
    if not args.keep_db:
        database_drop(url)
    # Paced raters start out of phase (up to one interval late), so the rate answered trails the
    # rate offered by about a percent even when the server keeps up.
    offered = args.rate or GOAL_VOTES_PER_S
    kept_up = figures["votes_per_s"] >= (0.99 * offered if args.rate else GOAL_VOTES_PER_S) and offered >= GOAL_VOTES_PER_S
    goal = args.raters >= 100 and kept_up and figures["next_p99_ms"] < 150 and figures["vote_p99_ms"] < 150
    print(f"goal (100 raters, {GOAL_VOTES_PER_S} votes/s, p99 < 150 ms for next and vote): {'met' if goal else 'not met'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
