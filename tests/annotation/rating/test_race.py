"""Many processes racing on a small study: the invariants hold because the schema makes them hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.db import connection

from annotation.models import Assignment, Item, Rater, Vote
from tests.support import ROOT
from tests.support.builders import build_open_study

PROCESSES = 8
RATERS = 30


@pytest.mark.django_db(transaction=True)
def test_racing_processes_fill_every_item_with_exactly_its_raters():
    if connection.vendor != "postgresql":
        pytest.skip("the race runs on PostgreSQL, where claims really are concurrent")
    study = build_open_study(n_prompts=6, raters=5, copy_files=False)
    Rater.objects.bulk_create(Rater(study=study, worker_id=f"R{i:02d}") for i in range(RATERS))
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}",
        "DJANGO_SETTINGS_MODULE": "juice.settings",
    }
    start_at = time.time() + 3  # every process is up and connected before anyone claims
    # Each rater is driven by two processes at once (two tabs), racing itself as well as the others.
    groups = [[f"R{i:02d}" for i in range(RATERS) if p in (i % PROCESSES, (i + 1) % PROCESSES)] for p in range(PROCESSES)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.support.race_rater", study.slug, str(start_at), *group],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for group in groups
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))

    accepted = [token for r in reports for token in r["accepted"]]
    items = list(Item.objects.filter(study=study))
    assert len(items) == 6
    for item in items:
        voters = list(Assignment.objects.filter(item=item, status="voted").values_list("rater_id", flat=True))
        assert len(voters) == len(set(voters)) == 5
        assert (item.claimed, item.votes_done) == (5, 5)
    pairs = Counter(Assignment.objects.filter(item__study=study).values_list("rater_id", "item_id"))
    assert max(pairs.values()) == 1  # no rater twice on an item
    # No vote lost, none invented: every accepted vote is in the database, with both questions.
    assert len(accepted) == len(set(accepted)) == 30
    assert set(Assignment.objects.filter(status="voted").values_list("token", flat=True)) == set(accepted)
    assert Vote.objects.count() == 30 * 2
    # Each rater's count of votes, which `next` shows as progress, is their stored votes.
    for rater in Rater.objects.filter(study=study):
        assert rater.votes_done == Assignment.objects.filter(rater=rater, status="voted").count()
    assert not Assignment.objects.filter(status="active").exists()
    assert sum(r["refused"] for r in reports) == sum(r["doubles"] for r in reports)  # every double vote was refused
