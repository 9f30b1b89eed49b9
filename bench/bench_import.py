"""Import 100,000 prompts from a CSV through `prompt_set_import` into the configured database.

Prints the import time and prompts per second; creates its own prompt set and removes it after.
Usage: DATABASE_URL=postgres://... python bench/bench_import.py [--prompts N]
(without DATABASE_URL, the Makefile's test PostgreSQL; its database must be migrated)
"""

from __future__ import annotations

import argparse
import csv
import secrets
import sys
import tempfile
import time
from pathlib import Path

from _setup import django_setup

django_setup()

from django.db import connection  # noqa: E402

from generation.prompts.importing import prompt_set_import  # noqa: E402

CATEGORIES = ["animals", "fantasy", "scenes", "objects", "people"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    args = parser.parse_args()
    if "annotation_prompt" not in connection.introspection.table_names():
        print(f"error: database {connection.settings_dict['NAME']} is not migrated; run manage.py migrate", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="juice-bench-") as scratch:
        source = Path(scratch) / "prompts.csv"
        with source.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "text", "category"])
            for i in range(args.prompts):
                text = f"A {CATEGORIES[i % 5]} scene number {i}, filmed in slow motion with soft morning light and gentle camera motion"
                writer.writerow([f"b{i:06d}", text, CATEGORIES[i % 5]])
        size = source.stat().st_size
        name = f"bench-{secrets.token_hex(4)}"
        start = time.perf_counter()
        prompt_set = prompt_set_import(name=name, source=source)
        elapsed = time.perf_counter() - start
    try:
        count = prompt_set.prompts.count()
        print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
        print(f"imported {count:,} prompts ({size / 1e6:.1f} MB CSV) in {elapsed:.2f} s: {count / elapsed:,.0f} prompts/s")
    finally:
        prompt_set.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
