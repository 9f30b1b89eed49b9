"""Time the analysis report on three votes CSVs, and the command line on a small one.

Builds (once, under bench/out/) votes CSVs of 4 systems in all 6 pairs, 5 raters per item and 2
questions, systems of known strength:

- small: 360 items by 40 raters, 3,600 votes: the time of `python -m analysis report --format
  json` from start to exit, import included (goal: under 2 s), the median of five runs;
- 2k-raters: 100,000 items by 2,000 raters, 1,000,000 votes;
- 500k-raters: 100,000 items by 500,000 raters who each rate one item (arena-style), 1,000,000 votes.

For each million-vote file, in a child process of its own (so that peak memory is its own): the
time to read, to build the JSON report (bootstrap included) and render it, the JSON's size and the
peak memory; then the time to write the per-rater CSV. Goal on a 2-core machine: report under
20 s, JSON under 5 MB, memory under 4 GB.

    python bench/bench_analysis.py [--bootstrap 1000] [--only small,2k-raters,500k-raters]
"""

import argparse
import itertools
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
# name: (file, items, raters in the pool, each rater rates one item only)
FILES = {
    "small": (OUT / "votes_3600.csv", 360, 40, False),
    "2k-raters": (OUT / "votes_1m.csv", 100_000, 2_000, False),
    "500k-raters": (OUT / "votes_1m_500k_raters.csv", 100_000, 500_000, True),
}
SMALL_RUNS = 5

SYSTEMS = ["emu-video", "make-a-video", "gen2", "pika"]
STRENGTH = {"emu-video": 1.2, "make-a-video": 0.0, "gen2": 0.6, "pika": 0.3}
CATEGORIES = ["animals", "fantasy", "people", "vehicles", "nature", "food", "sports", "city"]
REASONS = {
    "quality": ["pixel_sharpness", "motion_smoothness", "recognizable_objects", "frame_consistency", "amount_of_motion"],
    "faithfulness": ["spatial_alignment", "temporal_alignment"],
}
RATERS_PER_ITEM = 5


def generate(path: Path, n_items: int, n_raters: int, one_item_each: bool, seed: int = 1) -> None:
    """Write a votes CSV in the export format, with systems of known strength."""
    rng = np.random.default_rng(seed)
    pairs = list(itertools.combinations(SYSTEMS, 2))
    item = np.arange(n_items)
    prompt = item // len(pairs)
    pair = item % len(pairs)
    sys_a = np.array([a for a, _ in pairs])[pair]
    sys_b = np.array([b for _, b in pairs])[pair]
    gap = np.array([STRENGTH[a] - STRENGTH[b] for a, b in pairs])[pair]
    # Prompts differ in difficulty, so items of one prompt are correlated: what the prompt bootstrap is for.
    p_a = 1 / (1 + np.exp(-(gap + rng.normal(0, 0.8, prompt.max() + 1)[prompt])))

    raters = _raters(rng, n_items, n_raters, one_item_each)

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
                    "rater": np.char.add("w", np.char.zfill(raters.ravel().astype(str), 6)),
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


def _raters(rng: np.random.Generator, n_items: int, n_raters: int, one_item_each: bool) -> np.ndarray:
    """(items, 5) distinct raters per item."""
    if one_item_each:
        return rng.permutation(n_raters)[: n_items * RATERS_PER_ITEM].reshape(n_items, RATERS_PER_ITEM)
    # A random start and a stride below n_raters / 5.
    start = rng.integers(0, n_raters, n_items)
    stride = rng.integers(1, n_raters // RATERS_PER_ITEM, n_items)
    return (start[:, None] + np.arange(RATERS_PER_ITEM) * stride[:, None]) % n_raters


def measure(path: Path, bootstrap: int) -> None:
    """Read, report and render one file in this process; print the figures."""
    sys.path.insert(0, str(ROOT))
    import analysis

    t0 = time.perf_counter()
    votes = analysis.read_votes(path)
    t1 = time.perf_counter()
    report = analysis.build_report(votes, bootstrap=bootstrap, seed=0)
    text = analysis.render_report(report, "json")
    t2 = time.perf_counter()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = report["summary"]
    print(f"  rows: {len(votes):,}  items: {summary['items']:,}  raters: {summary['raters']:,}  JSON: {len(text.encode()):,} bytes")
    for question, ranking in report["ranking"].items():
        print(f"    {question}: " + ", ".join(f"{r['system']} {r['rating']:.0f} [{r['ci95'][0]:.0f}, {r['ci95'][1]:.0f}]" for r in ranking))
    print(f"  read:   {t1 - t0:6.2f} s")
    print(f"  report: {t2 - t1:6.2f} s  ({bootstrap} bootstrap resamples, JSON rendered)")
    print(f"  total:  {t2 - t0:6.2f} s")
    print(f"  peak RSS: {peak_mib:,.0f} MiB")
    t3 = time.perf_counter()
    csv_text = analysis.render_rater_csv(analysis.build_rater_table(votes))
    print(f"  per-rater CSV: {time.perf_counter() - t3:6.2f} s  ({len(csv_text.encode()):,} bytes)", flush=True)


def small_file_time(path: Path) -> None:
    """Wall time of the command line, interpreter start and imports included."""
    times = []
    for _ in range(SMALL_RUNS):
        start = time.perf_counter()
        command = [sys.executable, "-m", "analysis", "report", str(path), "--format", "json", "-o", str(OUT / "report_3600.json")]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    median, fastest = statistics.median(times), min(times)
    print(f"  python -m analysis report --format json: median {median:.2f} s, fastest {fastest:.2f} s of {SMALL_RUNS} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--only", default=",".join(FILES), help="comma-separated: " + ", ".join(FILES))
    parser.add_argument("--generate", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        path, n_items, n_raters, one_item_each = FILES[args.generate]
        generate(path, n_items, n_raters, one_item_each)
        return
    if args.measure:
        measure(FILES[args.measure][0], args.bootstrap)
        return
    for name in args.only.split(","):
        path = FILES[name][0]
        if not path.exists():
            # In a child process, so that building the file does not count in the measuring process's peak memory.
            print(f"building {path} ...", flush=True)
            subprocess.run([sys.executable, __file__, "--generate", name], check=True)
        print(f"{name} ({path.name}):", flush=True)
        if name == "small":
            small_file_time(path)
        else:
            subprocess.run([sys.executable, __file__, "--measure", name, "--bootstrap", str(args.bootstrap)], check=True)


if __name__ == "__main__":
    main()
