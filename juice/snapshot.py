"""One consistent view of the database for a block of reads (a report, a study's figures)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection, transaction


@contextlib.contextmanager
def read_snapshot() -> Iterator[None]:
    """One consistent view of the database for the block: on PostgreSQL a REPEATABLE READ transaction
    (it takes no lock and keeps no vote waiting); SQLite's transactions read one snapshot already."""
    nested = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not nested:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
