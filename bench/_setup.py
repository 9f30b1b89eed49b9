"""The settings preamble of the benchmark scripts: the repository on sys.path, the environment Django
reads, Django set up, and the databases a benchmark makes for itself and drops afterwards.

A script imports it as `from _setup import ...` (Python puts the script's folder, bench/, on sys.path).
Without DATABASE_URL and CELERY_BROKER_URL the benchmarks use the Makefile's test services on 127.0.0.1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOCAL_DATABASE = "postgres://postgres@127.0.0.1:5432/juice"
LOCAL_BROKER = "redis://127.0.0.1:6379/0"
# Simulated raters join and vote far faster than people; the rate limits are not what a benchmark measures.
FAST_RATERS = {"JUICE_RATE_JOIN_PER_MINUTE": "100000", "JUICE_RATE_VOTE_PER_MINUTE": "100000"}


def bench_environment(*, database: str | None = None, broker: str | None = None, media_root: Path | str | None = None,
                      fast_raters: bool = False, **more: str) -> dict[str, str]:
    """Set the environment Django reads, here and for the processes a benchmark starts, and return it.

    `database` and `broker` replace DATABASE_URL and CELERY_BROKER_URL; without them those stay as set,
    or are the local test services. `broker=""` means none: tasks run in the calling process.
    `fast_raters` lifts the raters' rate limits; `more` sets further variables (JUICE_WEB_WORKERS=...).
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "juice.settings"
    os.environ["DATABASE_URL"] = database or os.environ.get("DATABASE_URL") or LOCAL_DATABASE
    os.environ["CELERY_BROKER_URL"] = (os.environ.get("CELERY_BROKER_URL") or LOCAL_BROKER) if broker is None else broker
    if not os.environ["CELERY_BROKER_URL"]:
        del os.environ["CELERY_BROKER_URL"]
    if media_root is not None:
        os.environ["MEDIA_ROOT"] = str(media_root)
    os.environ.update({**(FAST_RATERS if fast_raters else {}), **more})
    return dict(os.environ)


def django_setup(*, migrate: bool = False, **environment) -> dict[str, str]:
    """`bench_environment(**environment)`, then Django set up (and, with `migrate`, the database migrated)."""
    env = bench_environment(**environment)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    return env


def postgres_url(suffix: str) -> str:
    """DATABASE_URL (or the local test database) with `suffix` added to the database's name: the
    benchmark's own database. Exits unless it is PostgreSQL."""
    base = urlparse(os.environ.get("DATABASE_URL") or LOCAL_DATABASE)
    if base.scheme not in {"postgres", "postgresql"}:
        sys.exit("error: the benchmark needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME")
    return base._replace(path=f"{base.path.rstrip('/')}{suffix}").geturl()


def database_drop(url: str, *, create: bool = False) -> None:
    """Drop the PostgreSQL database of `url` if it exists (and with `create`, create it afresh)."""
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(urlparse(url)._replace(path="/postgres").geturl(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A fresh test_<name> database beside the configured one for the run, dropped afterwards; yields
    its URL (for the workers a benchmark starts). Django must be set up; the database must be PostgreSQL."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("the benchmark needs PostgreSQL: set DATABASE_URL=postgres://...")
    original = connection.settings_dict["NAME"]
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    db = connection.settings_dict
    try:
        yield f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)
