"""Votes written straight into a study, for the benchmarks that need a big one (bench_scale.py,
bench_report_cache.py): `votes_prefill` finishes items with all their raters' votes in three SQL
statements (100,000 vote rows in seconds), as if raters had voted on them.

Each finished item gets its full count of distinct raters (from a pool of prefill raters) and every
question a vote; the items finished are the first of the study's shuffle, so the items left to claim
are spread over every pair. With `balanced`, every item splits 3-2 (for 5 raters) and the winning side
alternates from item to item, so each pair's systems look equal and a dynamic study's pairs stay open;
otherwise each vote picks a side at random.
"""

from __future__ import annotations

PREFILL_RATERS = 200

# The items to finish: the first `items` of the study's shuffle, numbered from 0 (`n`).
CHOSEN = """
SELECT id, row_number() OVER (ORDER BY shuffle, id) - 1 AS n FROM annotation_item
WHERE study_id = %(study)s AND status = 'ready' AND NOT is_attention ORDER BY shuffle, id LIMIT %(items)s
"""
# Their voted assignments: rater k (0 to raters - 1) of item n is prefill rater (n + k * step) mod the
# pool, all distinct; the token names the item and k, which the votes below read back.
ASSIGNMENTS_SQL = f"""
INSERT INTO annotation_assignment (token, rater_id, item_id, "left", status, leased_until, position, created_at, voted_at)
SELECT 'prefill-' || c.id || '-' || k, (%(raters)s::bigint[])[1 + (c.n + k * %(step)s) %% %(pool)s], c.id,
       CASE WHEN (c.n + k) %% 2 = 0 THEN 'a' ELSE 'b' END, 'voted', %(now)s, c.n + 1, %(now)s, %(now)s
FROM ({CHOSEN}) c CROSS JOIN generate_series(0, %(per_item)s - 1) k
"""  # noqa: S608 - constant SQL; the values are bound parameters
VOTES_SQL = """
INSERT INTO annotation_vote (assignment_id, question, choice, reasons, watch_ms, created_at)
SELECT a.id, q.question,
       CASE WHEN %(balanced)s
            THEN CASE WHEN (split_part(a.token, '-', 3)::int < (%(per_item)s + 1) / 2) = (a.position %% 2 = 1) THEN 'a' ELSE 'b' END
            WHEN random() < 0.5 THEN 'a' ELSE 'b' END,
       q.reasons, 8000, %(now)s
FROM annotation_assignment a JOIN annotation_item i ON i.id = a.item_id
CROSS JOIN jsonb_to_recordset(%(questions)s::jsonb) AS q(question text, reasons jsonb)
WHERE i.study_id = %(study)s AND a.token LIKE 'prefill-%%'
"""
ITEMS_SQL = f"""
UPDATE annotation_item i SET claimed = %(per_item)s, votes_done = %(per_item)s,
    finished_order = CASE WHEN %(dynamic)s THEN c.n + 1 END
FROM ({CHOSEN}) c WHERE i.id = c.id
"""  # noqa: S608 - constant SQL; the values are bound parameters
RATERS_SQL = """
UPDATE annotation_rater r SET votes_done = (SELECT COUNT(*) FROM annotation_assignment a WHERE a.rater_id = r.id)
WHERE r.study_id = %(study)s AND r.worker_id LIKE 'prefill-%%'
"""


def votes_prefill(study, rows: int, *, balanced: bool = True) -> int:
    """Finish enough items of `study` (PostgreSQL) with votes to fill about `rows` vote rows (whole
    items); returns the vote rows written. A dynamic study's items get their `finished_order`."""
    import json

    from django.db import connection, transaction
    from django.utils import timezone

    from annotation.models import Rater

    per_item, questions = study.raters_per_item, study.questions
    items = rows // (per_item * len(questions))
    if not items:
        return 0
    raters = Rater.objects.bulk_create([Rater(study=study, worker_id=f"prefill-{i:04d}") for i in range(PREFILL_RATERS)])
    params = {
        "study": study.pk, "items": items, "per_item": per_item, "raters": [r.pk for r in raters], "pool": PREFILL_RATERS,
        "step": PREFILL_RATERS // per_item, "now": timezone.now(), "balanced": balanced, "dynamic": study.dynamic,
        "questions": json.dumps([{"question": q, "reasons": [study.reasons[q][0]["key"]]} for q in questions]),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ASSIGNMENTS_SQL, params)
        cursor.execute(VOTES_SQL, params)
        written = cursor.rowcount
        cursor.execute(ITEMS_SQL, params)
        cursor.execute(RATERS_SQL, params)
    # As autovacuum would soon: the finished items' old versions gone from the indexes, the statistics fresh.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE annotation_item, annotation_assignment, annotation_vote, annotation_rater")
    return written
