"""Configuration from environment variables that fails loudly on a bad value."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def networks_from_env(name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `::1`); unset means none."""
    networks = []
    for part in os.environ.get(name, "").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ImproperlyConfigured(f"{name}: {part.strip()!r} is not an IP address or network (such as 10.0.0.0/8)") from None
    return tuple(networks)


# Django's deployment check asks for at least 50 characters (and 5 distinct ones).
SECRET_KEY_MIN_LENGTH = 50


def secret_key_from_env(data_dir: Path, *, debug: bool) -> str:
    """JUICE_SECRET_KEY, or, when it is not set, a random key made once and kept in `data_dir`.

    The site never runs on a key written in the source: with that key anyone could sign a rater
    cookie for any rater. The kept key is readable by its owner only, and every process of the
    site (web workers, Celery workers) reads the same one.
    """
    from juice.files import file_create_once

    raw = os.environ.get("JUICE_SECRET_KEY", "")
    if not raw:
        return file_create_once(data_dir / "secret_key", secrets.token_urlsafe(SECRET_KEY_MIN_LENGTH))
    if len(raw) < SECRET_KEY_MIN_LENGTH and not debug:
        raise ImproperlyConfigured(
            f"JUICE_SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} characters long "
            f"(unset it to have one made and kept in {data_dir / 'secret_key'})"
        )
    return raw


# Every SQLite database, the default one or one DATABASE_URL names: writers wait for each other
# (up to 30 s) instead of failing with "database is locked", take the write lock when their
# transaction begins (a reader turning writer mid-transaction could deadlock), and readers never
# wait on a writer (WAL journal).
SQLITE_OPTIONS = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
}


def database_from_env(data_dir: Path) -> dict:
    """DATABASE_URL names PostgreSQL or SQLite; unset means an SQLite file in the data folder."""
    import dj_database_url

    raw = os.environ.get("DATABASE_URL", "").strip()
    if not raw:
        # A fresh clone has no var/ yet; SQLite creates the file but not its folder.
        data_dir.mkdir(parents=True, exist_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(data_dir / "db.sqlite3"), "OPTIONS": dict(SQLITE_OPTIONS)}
    scheme = urlparse(raw).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL={raw!r}: unsupported scheme {scheme!r}; use postgres://USER@HOST:PORT/NAME or sqlite:///PATH"
        )
    try:
        config = dj_database_url.parse(raw, conn_max_age=60)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL={raw!r} is not a valid database URL: {exc}") from None
    if scheme == "sqlite":
        config["OPTIONS"] = {**config.get("OPTIONS", {}), **SQLITE_OPTIONS}
        return config
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"DATABASE_URL={raw!r} names no database (postgres://USER@HOST:PORT/NAME)")
    # Django leaves psycopg's prepared statements off, and its own queries never use them
    # (client-side binding); the annotator API's hot statements ask for them (annotation/rating/prepared.py),
    # so PostgreSQL plans each once per connection. A pooler in transaction mode would need this off.
    config["OPTIONS"] = {**config.get("OPTIONS", {}), "prepare_threshold": 5}
    return config


def broker_from_env() -> str | None:
    """CELERY_BROKER_URL names Redis; unset means tasks run in-process."""
    raw = os.environ.get("CELERY_BROKER_URL", "").strip()
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured(f"CELERY_BROKER_URL={raw!r}: unsupported scheme {parsed.scheme!r}; use redis://HOST:PORT/DB")
    try:
        parsed.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ImproperlyConfigured(f"CELERY_BROKER_URL={raw!r} has an invalid port") from None
    if not parsed.hostname:
        raise ImproperlyConfigured(f"CELERY_BROKER_URL={raw!r} names no host")
    return raw


def cache_from_env() -> dict:
    """JUICE_CACHE_URL names a Redis shared by every web process; unset means each process's own memory."""
    raw = os.environ.get("JUICE_CACHE_URL", "").strip()
    if not raw:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    parsed = urlparse(raw)
    if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
        raise ImproperlyConfigured(f"JUICE_CACHE_URL={raw!r}: use redis://HOST:PORT/DB")
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": raw}}
