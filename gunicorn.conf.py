"""gunicorn settings for JUICE (gunicorn reads ./gunicorn.conf.py by itself): `gunicorn juice.wsgi`.

Annotators' requests are short and spend part of their time waiting on PostgreSQL. One worker
process per core, each with a couple of threads to overlap those waits, keeps every core busy.
Measured with bench/bench_annotation.py on 2 cores (as fast as answered, `--rate 0`, 2026-12-02):
2 threads per process answered 196-208 votes/s, 3 threads 197, 4 threads 164-187, 1 thread 171;
every request runs a few statements in turn, and more threads than that only wait on each other for
the interpreter lock. More processes than cores cost more than they give: 4 processes x 2 threads
spent about 20% more CPU per vote than 2 x 4 (their switching and cache misses also slow
PostgreSQL, which shares the cores). gunicorn's gevent worker (2 processes, a psycopg pool of 4
connections each) did no better: in 2 interleaved pairs of runs it spent 3-12% more server CPU per
vote, and its p99 was higher. A thread is busy while it reads a request's body: put nginx (which
buffers uploads) in front, as the README's deployment does. JUICE_WEB_WORKERS and JUICE_WEB_THREADS
override the defaults.
"""

import gc
import os

from juice.env import env_int

bind = os.environ.get("JUICE_WEB_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = env_int("JUICE_WEB_WORKERS", os.cpu_count() or 1, minimum=1)
threads = env_int("JUICE_WEB_THREADS", 2, minimum=1)
# Raters send their next request seconds apart; keep their connections open in between.
keepalive = 30
# Django and its URLconf (which brings the analysis stack: pandas, scipy, matplotlib) load once, in
# the master: workers start ready and share those pages, instead of each importing them for
# seconds on its first request while raters wait.
preload_app = True


def when_ready(server) -> None:
    """Before the workers fork: import every view now, and hold no database connection they would share."""
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - importing the URLconf is the point
    connections.close_all()
    # The imported modules live as long as the process: keep them out of the garbage collector's
    # full passes, which would otherwise walk them all in a worker mid-request (and copy their pages).
    gc.freeze()
