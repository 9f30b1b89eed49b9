"""Time the analysis report on a large votes CSV.

Builds (once, under bench/out/) a votes CSV of 1,000,000 rows: 100,000 items, 4 systems in all 6
pairs, 5 raters per item, 2 questions. Then reads it and builds the full JSON report, bootstrap
included, and prints the time to read, the time to report, the total and the peak memory.
Goal on a 2-core machine: under 20 s and under 4 GB.

    python bench/bench_analysis.py [--bootstrap 1000] [--csv PATH]
"""

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "bench" / "out" / "votes_1m.csv"

SYSTEMS = ["emu-video", "make-a-video", "gen2", "pika"]
STRENGTH = {"emu-video": 1.2, "make-a-video": 0.0, "gen2": 0.6, "pika": 0.3}
CATEGORIES = ["animals", "fantasy", "people", "vehicles", "nature", "food", "sports", "city"]
REASONS = {
    "quality": ["pixel_sharpness", "motion_smoothness", "recognizable_objects", "frame_consistency", "amount_of_motion"],
    "faithfulness": ["spatial_alignment", "temporal_alignment"],
}
N_ITEMS = 100_000
RATERS_PER_ITEM = 5
N_RATERS = 2_000


def generate(path: Path, seed: int = 1) -> None:
    """Write a votes CSV in the export format, with systems of known strength."""
    rng = np.random.default_rng(seed)
    pairs = list(itertools.combinations(SYSTEMS, 2))
    item = np.arange(N_ITEMS)
    prompt = item // len(pairs)
    pair = item % len(pairs)
    sys_a = np.array([a for a, _ in pairs])[pair]
    sys_b = np.array([b for _, b in pairs])[pair]
    gap = np.array([STRENGTH[a] - STRENGTH[b] for a, b in pairs])[pair]
    # Prompts differ in difficulty, so items of one prompt are correlated: what the prompt bootstrap is for.
    p_a = 1 / (1 + np.exp(-(gap + rng.normal(0, 0.8, prompt.max() + 1)[prompt])))

    # Five distinct raters per item: a random start and a stride below N_RATERS / 5.
    start = rng.integers(0, N_RATERS, N_ITEMS)
    stride = rng.integers(1, N_RATERS // RATERS_PER_ITEM, N_ITEMS)
    raters = (start[:, None] + np.arange(RATERS_PER_ITEM) * stride[:, None]) % N_RATERS

    rows = np.repeat(item, RATERS_PER_ITEM)  # one per rating
    # Placement and watch time belong to the rating, shared by its questions.
    left_a = rng.random(rows.size) < 0.5
    watch_ms = rng.integers(3_000, 20_000, rows.size)
    created_at = (pd.Timestamp("2026-01-05T09:00:00Z") + pd.to_timedelta(rows * 7, unit="s")).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    frames = []
    for question, reasons in REASONS.items():
        votes_a = rng.random(rows.size) < p_a[rows]
        # One to three reasons per vote, from the question's list.
        picks = rng.random((rows.size, len(reasons))) < 0.35
        picks[np.arange(rows.size), rng.integers(0, len(reasons), rows.size)] = True
        subsets = itertools.product([False, True], repeat=len(reasons))
        combos = [";".join(r for r, on in zip(reasons, mask, strict=True) if on) for mask in subsets]
        combo = picks @ (1 << np.arange(len(reasons))[::-1])
        frames.append(
            pd.DataFrame(
                {
                    "study": "bench",
                    "item": rows + 1,
                    "prompt_id": np.char.add("p", np.char.zfill((prompt[rows] + 1).astype(str), 5)),
                    "prompt": np.char.add("a short video of scene number ", (prompt[rows] + 1).astype(str)),
                    "category": np.array(CATEGORIES)[prompt[rows] % len(CATEGORIES)],
                    "system_a": sys_a[rows],
                    "system_b": sys_b[rows],
                    "question": question,
                    "rater": np.char.add("w", np.char.zfill(raters.ravel().astype(str), 4)),
                    "choice": np.where(votes_a, sys_a[rows], sys_b[rows]),
                    "left": np.where(left_a, sys_a[rows], sys_b[rows]),
                    "reasons": np.array(combos)[combo],
                    "watch_ms": watch_ms,
                    "created_at": created_at,
                }
            )
        )
    # Rating by rating, quality before faithfulness, as an export lists them.
    votes = pd.concat(frames).sort_values(["item", "rater"], kind="stable")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    votes.to_csv(tmp, index=False)
    tmp.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.csv)
        return
    if not args.csv.exists():
        # In a child process, so that building the file does not count in this process's peak memory.
        print(f"building {args.csv} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--generate-only", "--csv", str(args.csv)], check=True)

    sys.path.insert(0, str(ROOT))
    import analysis

    t0 = time.perf_counter()
    votes = analysis.read_votes(args.csv)
    t1 = time.perf_counter()
    report = analysis.build_report(votes, bootstrap=args.bootstrap, seed=0)
    text = json.dumps(report, allow_nan=False)
    t2 = time.perf_counter()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = report["summary"]
    print(f"rows: {len(votes):,}  items: {summary['items']:,}  (pair, question) rows: {len(report['pairs'])}  JSON: {len(text):,} bytes")
    for question, ranking in report["ranking"].items():
        print(f"  {question}: " + ", ".join(f"{r['system']} {r['rating']:.0f} [{r['ci95'][0]:.0f}, {r['ci95'][1]:.0f}]" for r in ranking))
    print(f"read:   {t1 - t0:6.2f} s")
    print(f"report: {t2 - t1:6.2f} s  ({args.bootstrap} bootstrap resamples)")
    print(f"total:  {t2 - t0:6.2f} s")
    print(f"peak RSS: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
