"""Dynamic evaluation on simulated studies: votes saved, conclusions kept, error rates.

    .venv/bin/python bench/bench_dynamic.py [--studies 2000] [--alpha 0.05] [--seed 0] [--live 3]

Each simulated study compares every pair of NINE systems on 200 prompts: eight whose neighbouring
pairs' item win rates lie between 0.55 and 0.65 (Bradley-Terry strengths), and a twin of the
fourth, equal to it. Each item's better side is drawn from its pair's win rate; each of its 5 raters
picks the better video with probability 0.8 on average and the left one 5 points more often
(0.85 when the better is on the left, 0.75 when it is on the right; sides drawn per vote).

Every study is judged three ways on the same votes:
- full: every item gets its 5 raters; each pair tested by the report's exact binomial test, Holm
  over the pairs (analysis.proportions, as `python -m analysis report`);
- dynamic: the items of the pairs still open are served round by round (one item per open pair
  per round: the depth-first claim of dynamic studies finishes items one after another, in the
  study's shuffle, which mixes the pairs) and each finished item is a look of
  analysis.sequential.settle, the stopping rule the assignment code runs; a settled pair gets no
  more items; optionally with the per-item early stop too (3 agreeing votes of 5 end an item);
- ranking: dynamic, and a pair whose order is known without it (implied by settled pairs, or
  separated by the Bradley-Terry model of every finished item; analysis.sequential.settle_study)
  gets no more items either.
The event loop below jumps from one settlement to the next instead of calling `settle` after every
item; for the first studies it checks that this gives what `settle` gives after every round.

It prints the votes each design used, how often a pair decided by the full design is decided the
same way by the dynamic one, the studies with a pair declared against the truth, the studies
declaring a direction for the equal pair (with its upper 95% Clopper-Pearson bound), and Kendall's
tau between each design's Bradley-Terry ranking and the true order. With `--live N` it then runs N
smaller studies through the real assignment code on PostgreSQL (bench/dynamic_live.py).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import _setup  # noqa: F401  (the repository on sys.path; no Django here)
import numpy as np
from scipy.stats import beta as beta_dist
from scipy.stats import kendalltau

from analysis import sequential
from analysis.proportions import binomial_p_value, holm
from analysis.ranking import fit_strengths

PROMPTS = 200
RATERS = 5
ACCURACY = 0.8
LEFT_BIAS = 0.05
# Item win rates of the neighbouring pairs (1 beats 2, 2 beats 3, ...), all within 0.55..0.65.
NEIGHBOUR_WIN_RATES = (0.60, 0.55, 0.65, 0.58, 0.62, 0.56, 0.64)
TWIN_OF = 3  # system 8 is as strong as system 3
CHECK_STUDIES = 20
# The ranking design is run on the first studies only (it calls settle_study every few rounds).
RANKING_STUDIES = 200
RANKING_EVERY = 5


def strengths() -> np.ndarray:
    gaps = np.log(np.array(NEIGHBOUR_WIN_RATES) / (1 - np.array(NEIGHBOUR_WIN_RATES)))
    chain = np.concatenate([[0.0], -np.cumsum(gaps)])
    return np.append(chain, chain[TWIN_OF])


def simulate_votes(rng: np.random.Generator, win_rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair and item: whether A's majority won, and the votes the per-item early stop needed."""
    a_better = rng.random((len(win_rate), PROMPTS)) < win_rate[:, None]
    better_left = rng.random((len(win_rate), PROMPTS, RATERS)) < 0.5
    correct = rng.random(better_left.shape) < np.where(better_left, ACCURACY + LEFT_BIAS, ACCURACY - LEFT_BIAS)
    for_a = correct == a_better[:, :, None]
    a_wins = for_a.sum(axis=2) * 2 > RATERS
    # Early stop: the vote at which one side reaches a majority (3 of 5).
    need = RATERS // 2 + 1
    reached = np.maximum(np.cumsum(for_a, axis=2), np.cumsum(~for_a, axis=2)) >= need
    return a_wins, reached.argmax(axis=2) + 1


def full_design(a_wins: np.ndarray, alpha: float) -> list[str | None]:
    wins = a_wins.sum(axis=1)
    adjusted = holm([binomial_p_value(int(w), PROMPTS) for w in wins])
    return [None if p > alpha else ("a" if 2 * w > PROMPTS else "b") for p, w in zip(adjusted, wins, strict=True)]


def dynamic_design(a_wins: np.ndarray, alpha: float) -> tuple[np.ndarray, list]:
    """Items served per pair and each pair's conclusion, jumping from settlement to settlement."""
    outcomes = [["a" if w else "b" for w in row] for row in a_wins]
    served = np.full(len(outcomes), PROMPTS)
    direction: list[str | None] = [None] * len(outcomes)
    open_pairs, now = set(range(len(outcomes))), 0
    while open_pairs:
        level = alpha / len(open_pairs)
        times = {}
        for p in open_pairs:
            look = sequential.first_crossing(sequential.Path(outcomes[p], PROMPTS, complete=True), level)
            if look:
                times[p] = (max(now, look), look)
        if not times:
            break
        now = min(t for t, _ in times.values())
        for p, (t, look) in times.items():
            if t == now:
                wins = sum(o == "a" for o in outcomes[p][:look])
                direction[p] = "a" if 2 * wins > look else "b"
                served[p] = now
                open_pairs.discard(p)
    return served, direction


def ranking_design(a_wins: np.ndarray, alpha: float, pairs: list[tuple[int, int]]) -> tuple[np.ndarray, list]:
    """Round by round through settle_study with ranking on, every RANKING_EVERY rounds: a pair
    settled or not needed gets no more items."""
    systems = {p: (f"s{i}", f"s{j}") for p, (i, j) in enumerate(pairs)}
    caps = dict.fromkeys(range(len(pairs)), PROMPTS)
    served = np.zeros(len(pairs), dtype=np.int64)
    finished: list = []
    states: dict = {}
    for rnd in range(1, PROMPTS + 1):
        for p in range(len(pairs)):
            if p in states and states[p].status != sequential.OPEN:
                continue
            finished.append(sequential.Finished(p, (p, rnd), rnd, {"q": "a" if a_wins[p, rnd - 1] else "b"}))
            served[p] = rnd
        if rnd % RANKING_EVERY == 0 or rnd == PROMPTS:
            states = sequential.settle_study(finished, caps, ["q"], alpha=alpha, ranking=True, systems=systems)
    return served, [states[p].questions["q"].direction for p in range(len(pairs))]


def check_against_settle(a_wins: np.ndarray, alpha: float, served: np.ndarray, direction: list) -> None:
    """The event loop against `settle` run after every round: the same rounds and directions."""
    outcomes = [["a" if w else "b" for w in row] for row in a_wins]
    stopped: dict[int, int] = {}
    for rnd in range(1, PROMPTS + 1):
        paths = {p: sequential.Path(outcomes[p][: stopped.get(p, rnd)], PROMPTS, complete=rnd == PROMPTS) for p in range(len(outcomes))}
        for p, state in sequential.settle(paths, alpha).items():
            if state.settled and p not in stopped:
                stopped[p] = rnd
                assert state.direction == direction[p], (p, state, direction[p])
    for p in range(len(outcomes)):
        assert stopped.get(p, PROMPTS) == served[p], (p, stopped.get(p), served[p])


def kendall(truth: np.ndarray, a_wins: np.ndarray, served: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    wins = np.zeros((len(truth), len(truth)))
    for p, (i, j) in enumerate(pairs):
        won = int(a_wins[p, : served[p]].sum())
        wins[i, j] += won
        wins[j, i] += served[p] - won
    return float(kendalltau(truth, fit_strengths(wins)).statistic)


def upper_bound(hits: int, n: int) -> float:
    return 1.0 if hits == n else float(beta_dist.ppf(0.975, hits + 1, n - hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rho", type=float, default=sequential.RHO, help="spending exponent to try (the platform uses RHO)")
    parser.add_argument("--ranking-studies", type=int, default=RANKING_STUDIES, help="studies also run with the ranking option")
    parser.add_argument("--live", type=int, default=0, metavar="N",
                        help="also run N small studies through the real assignment code on PostgreSQL (DATABASE_URL)")
    args = parser.parse_args()
    sequential.RHO = args.rho  # before any boundary is computed (they are cached)
    truth = strengths()
    pairs = list(itertools.combinations(range(len(truth)), 2))
    win_rate = 1 / (1 + np.exp(-(truth[[i for i, _ in pairs]] - truth[[j for _, j in pairs]])))
    true_dir = ["a" if w > 0.5 else "b" if w < 0.5 else None for w in win_rate]
    equal = true_dir.index(None)
    print(f"settings: {len(truth)} systems, {len(pairs)} pairs, {PROMPTS} prompts, {RATERS} raters of accuracy {ACCURACY} "
          f"with a {LEFT_BIAS:.0%} left bias,\n"
          f"  alpha {args.alpha} family-wise, rho {sequential.RHO}, {args.studies} studies, seed {args.seed}")
    print(f"neighbouring item win rates {NEIGHBOUR_WIN_RATES}; system 8 is the twin of system {TWIN_OF}")
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    rows = {name: [] for name in ("full", "dynamic", "ranking")}
    for study in range(args.studies):
        a_wins, early_votes = simulate_votes(rng, win_rate)
        full = full_design(a_wins, args.alpha)
        rows["full"].append((np.full(len(pairs), PROMPTS), full, early_votes))
        served, direction = dynamic_design(a_wins, args.alpha)
        if study < CHECK_STUDIES:
            check_against_settle(a_wins, args.alpha, served, direction)
        rows["dynamic"].append((served, direction, early_votes))
        if study < args.ranking_studies:
            rows["ranking"].append((*ranking_design(a_wins, args.alpha, pairs), early_votes))
        for name in rows:
            if len(rows[name]) == study + 1:
                rows[name][-1] = (*rows[name][-1], kendall(truth, a_wins, rows[name][-1][0], pairs))
    report(rows, true_dir, equal, pairs, args)
    print(f"({time.perf_counter() - started:.0f} s; the event loop equalled settle() after every round on the first "
          f"{min(CHECK_STUDIES, args.studies)} studies)")
    if args.live:
        from dynamic_live import run as run_live

        if not run_live(args.live, truth, ACCURACY, LEFT_BIAS, args.seed):
            sys.exit("error: the live studies broke an invariant")


def report(rows: dict, true_dir: list, equal: int, pairs: list, args: argparse.Namespace) -> None:
    full_votes = len(pairs) * PROMPTS * RATERS
    print(f"\n{'design':<10}{'votes':>9}{'saved':>8}{'+ item stop':>13}{'saved':>8}{'against truth':>15}"
          f"{'equal pair':>12}{'95% bound':>11}{'Kendall tau':>13}")
    for name, studies in rows.items():
        n = len(studies)
        if not n:
            continue
        votes = np.mean([served.sum() * RATERS for served, *_ in studies])
        early = np.mean([sum(ev[p, : s].sum() for p, s in enumerate(served)) for served, _, ev, _ in studies])
        against = sum(any(d and d != t for d, t in zip(direction, true_dir, strict=True) if t) for _, direction, _, _ in studies)
        on_equal = sum(direction[equal] is not None for _, direction, _, _ in studies)
        tau = np.mean([s[3] for s in studies])
        print(f"{name:<10}{votes:>9.0f}{1 - votes / full_votes:>8.1%}{early:>13.0f}{1 - early / full_votes:>8.1%}"
              f"{against / n:>15.2%}{on_equal / n:>12.2%}{upper_bound(on_equal, n):>11.2%}{tau:>13.3f}")
    k = len(rows["ranking"])
    if k:
        taus = {name: np.mean([s[3] for s in rows[name][:k]]) for name in rows}
        print(f"(ranking: its first {k} studies; Kendall tau on those: full {taus['full']:.3f}, dynamic {taus['dynamic']:.3f}, "
              f"ranking {taus['ranking']:.3f})")
    n = args.studies
    print("\nper pair (the equal pair aside): studies where the full design decides it, and the share of those the dynamic "
          "design decides the same way")
    worst, same_all, decided_all = 1.0, 0, 0
    for p, (i, j) in enumerate(pairs):
        decided = [k for k, (_, d, _, _) in enumerate(rows["full"]) if d[p]]
        if not decided or p == equal:
            continue
        same = sum(rows["dynamic"][k][1][p] == rows["full"][k][1][p] for k in decided)
        same_all, decided_all = same_all + same, decided_all + len(decided)
        if len(decided) >= n / 2:
            worst = min(worst, same / len(decided))
        if same < len(decided):
            print(f"  {i} vs {j}: full decides in {len(decided) / n:.1%}, dynamic the same way in {same / len(decided):.1%}")
    print(f"over every pair and study the full design decides: the same way in {same_all / max(decided_all, 1):.1%}; "
          f"worst pair among those it decides in most studies: {worst:.1%}")

if __name__ == "__main__":
    main()
