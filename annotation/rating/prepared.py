"""Running the rating rules' statements, on PostgreSQL as prepared statements and on the demo's SQLite
as they are; their rows come back by column name.

The rules (the claim, the lease, the vote, the settlement request: one module each, their statements
beside the code that reads their rows) run on every rating, so they are plain SQL rather than ORM
queries: building an ORM query costs this code's machine more CPU than PostgreSQL spends running it
(measured in the README: 45 votes/s through the ORM against about 200 with these statements). Each
rule is written once, for both databases: the demo's SQLite runs exactly what production's
PostgreSQL runs. The only difference is how rows get locked: PostgreSQL claims with
`FOR UPDATE SKIP LOCKED`, while SQLite has one writer at a time (every transaction begins IMMEDIATE,
settings.DATABASES).

Values go in as bound parameters, adapted for the database by `db_value`; PostgreSQL plans each
statement once per connection (prepared statements, juice/env.py).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field
from psycopg.pq import ExecStatus

Row = dict[str, Any]  # a row by column name: each statement names its columns (AS) where they are not plain

TUPLES_OK = ExecStatus.TUPLES_OK
# Each statement's column names, read from its first run's cursor.description: a statement's columns
# never change, and psycopg builds a description's columns anew on every asking.
_NAMES: dict[str, tuple[str, ...]] = {}


def db_value(field: Field | None, value: object) -> object:
    """`value` as this database stores it: a datetime as SQLite's text, a JSON value as PostgreSQL's jsonb."""
    db = connections[DEFAULT_DB_ALIAS]
    if isinstance(value, datetime):
        return db.ops.adapt_datetimefield_value(value)
    return field.get_db_prep_save(value, db) if field is not None else value


def run(sql: str, params: dict[str, object]) -> tuple[list[Row], int]:
    """Run one statement; returns (its rows by column name, how many rows it changed). The count is for
    statements without RETURNING (some SQLite versions leave it unset with RETURNING): read the rows there.

    On PostgreSQL as a prepared statement: planning these joins costs more than running them, so each
    connection (persistent, CONN_MAX_AGE) plans each statement once. Errors (a refused constraint)
    reach the caller, whose transaction they roll back.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy is a thread-local lookup
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            if not cursor.description:
                return [], cursor.rowcount
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()], cursor.rowcount
    db.ensure_connection()
    started = time.monotonic()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:  # server-side binding, which preparing needs
        cursor.execute(sql, params, prepare=True)
        rows = []
        if cursor.pgresult.status == TUPLES_OK:  # a statement that returns rows
            names = _NAMES.get(sql) or _NAMES.setdefault(sql, tuple(column.name for column in cursor.description))
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        changed = cursor.rowcount
    if db.queries_logged:  # as Django's own cursors do, for DEBUG and query-counting tests
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows, changed
