"""Dynamic evaluation on simulated studies, scenario by scenario: votes saved, decisions kept, error rates.

    .venv/bin/python bench/bench_dynamic.py [--scenario NAME ...] [--studies 2000] [--alpha 0.05] [--seed 0]
        [--rho R] [--burn-in B] [--processes 1] [--check 1] [--live 3]

Each simulated study compares every pair of NINE systems on 200 prompts: eight in a chain whose
neighbouring pairs' item-majority win rates (among decisive items) are about 0.6 (Bradley-Terry
strengths), and a twin of the fourth, equal to it (the equal pair). `all-equal` makes the nine
systems equal. Each item gets 5 distinct raters; its outcome is its plurality, equal top counts a tie.

Rater models (`SCENARIOS`), each a pool of 60 raters:
- accurate: the simulator's first model: no ties, each rater picks the better video (the item's
  better side drawn from the pair's win rate) with probability 0.8, the left one 5 points more often;
- realistic (issue 29): 20% of the raters answer at random (left, right, tie: 1/3 each); every other
  rater, on every item, says tie with probability 0.25, else picks the video on the left with
  probability 0.15 whatever it shows (sides drawn per item), else prefers system A with the pair's
  preference probability q, set (exactly, `calibrate`) so that the item-majority win rate among
  decisive items is the pair's win rate;
- varying accuracy: realistic, each rater's preference sharpened or blunted (log-odds of q times a
  factor drawn from 0.2..1.8 per rater);
- heterogeneous prompts: realistic, each item's q moved on the log-odds scale by a normal draw
  (sd 1) of its own (an equal pair stays equal on average: its items are exchangeable);
- drift: realistic, raters arrive in two waves (the first 30 serve the first half of the rounds,
  the other 30 the second): the equal pair's win rate is 0.62 with the first wave, 0.38 with the
  second (0.5 on average: no difference);
- drift, one pair: the drift scenario's equal pair alone (a study of two systems, tested at alpha itself);
- all-equal: realistic raters, nine equal systems (the ranking option's test).

Time: items are served round by round (one item per open pair per round, the depth-first claim's
order in expectation), and a round is the clock raters arrive by; an item's outcome does not depend
on the design, so every design sees the same votes.

Every study is judged on the same votes by:
- full: every item, exact binomial test on the decisive items per pair, Holm over the pairs (the report);
- dynamic: analysis.sequential's rule, looking after every finished item, a settled pair stops
  (the votes with the per-item early stop too: an item stops once its remaining raters cannot
  change its plurality, analysis.outcomes.outcome_decided);
- ranking: dynamic, and a pair whose order the settled pairs imply by transitivity stops too.
The event loop jumps from settlement to settlement; with --check N it checks on the first N studies
that settle() on the paths so far gives the same settlements every 20 rounds.

Printed per scenario: votes saved (alone and with the item stop), studies with an error (a pair
declared against the truth, or any direction for an equal pair) with the 95% Clopper-Pearson
interval, agreement with the full design (over every pair and study it decides, and the worst pair
among those it decides in half the studies or more), coverage of the repeated intervals at
settlement, and the drift check (early against late half of a settled pair's items) on false and
true settlements.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from contextlib import nullcontext
from multiprocessing import Pool

import _setup  # noqa: F401  (the repository on sys.path; no Django here)
import numpy as np
from scipy.stats import beta as beta_dist

from analysis import sequential
from analysis.proportions import binomial_p_value, holm

PROMPTS = 200
RATERS = 5
POOL = 60
RANDOM_SHARE = 0.2
TIE_RATE = 0.25
LEFT_RATE = 0.15
NEIGHBOUR = 0.6
SYSTEMS = 8
TWIN_OF = 3
DRIFT = (0.62, 0.38)
A, B, T = 0, 1, 2
CODES = (sequential.A_WINS, sequential.B_WINS, sequential.TIE)

SCENARIOS = {
    "accurate": {"model": "accurate"},
    "realistic": {"model": "realistic"},
    "varying accuracy": {"model": "realistic", "spread": 0.8},
    "heterogeneous prompts": {"model": "realistic", "prompt_sd": 1.0},
    "drift": {"model": "realistic", "drift": True},
    "drift, one pair": {"model": "realistic", "drift": True, "single": True},
    "all-equal": {"model": "realistic", "equal": True},
}


def strengths(equal: bool = False) -> np.ndarray:
    gap = 0.0 if equal else math.log(NEIGHBOUR / (1 - NEIGHBOUR))
    chain = -gap * np.arange(SYSTEMS)
    return np.append(chain, chain[TWIN_OF])


def _vote_probs(q: float, random: bool, a_left: bool) -> tuple[float, float, float]:
    if random:
        return 1 / 3, 1 / 3, 1 / 3
    left = (1 - TIE_RATE) * LEFT_RATE
    rest = (1 - TIE_RATE) * (1 - LEFT_RATE)
    return rest * q + left * a_left, rest * (1 - q) + left * (not a_left), TIE_RATE


def item_outcome_probs(q: float) -> tuple[float, float]:
    """P(A's plurality), P(B's plurality) of an item under the realistic raters with preference q."""
    randoms = int(POOL * RANDOM_SHARE)
    # Raters drawn without replacement: how many of the 5 answer at random (hypergeometric).
    weights = [math.comb(randoms, r) * math.comb(POOL - randoms, RATERS - r) / math.comb(POOL, RATERS) for r in range(RATERS + 1)]
    pa = pb = 0.0
    for r, w in enumerate(weights):
        for a_left in (True, False):
            probs = [_vote_probs(q, i < r, a_left) for i in range(RATERS)]
            for votes in itertools.product(range(3), repeat=RATERS):
                p = math.prod(probs[i][v] for i, v in enumerate(votes))
                counts = [votes.count(c) for c in range(3)]
                if counts[A] > max(counts[B], counts[T]):
                    pa += w * p / 2
                elif counts[B] > max(counts[A], counts[T]):
                    pb += w * p / 2
    return pa, pb


def calibrate(win_rate: float) -> float:
    """The preference q whose item-majority win rate among decisive items is `win_rate` (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(40):
        mid = (low + high) / 2
        pa, pb = item_outcome_probs(mid)
        low, high = (mid, high) if pa / (pa + pb) < win_rate else (low, mid)
    return (low + high) / 2


class World:
    """A scenario's systems and pairs, with each pair's true win rate and preference q."""

    def __init__(self, scenario: dict):
        self.scenario = scenario
        truth = np.zeros(2) if scenario.get("single") else strengths(scenario.get("equal", False))
        self.truth = truth
        self.pairs = list(itertools.combinations(range(len(truth)), 2))
        gaps = np.array([truth[i] - truth[j] for i, j in self.pairs])
        self.win_rate = 1 / (1 + np.exp(-gaps))
        self.true_dir = [A if w > 0.5 + 1e-9 else B if w < 0.5 - 1e-9 else None for w in self.win_rate]
        self.equal = [p for p, d in enumerate(self.true_dir) if d is None]
        cache: dict[float, float] = {}
        if scenario["model"] == "realistic":
            for w in np.round(self.win_rate, 12):
                if w not in cache:
                    cache[w] = calibrate(w) if w != 0.5 else 0.5
            self.q = np.array([cache[w] for w in np.round(self.win_rate, 12)])
            if scenario.get("drift"):
                self.q_drift = {p: (calibrate(DRIFT[0]), calibrate(DRIFT[1])) for p in self.equal}


def simulate(world: World, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per pair and item (in serving order): its outcome (A, B, T) and the votes the per-item early stop needs."""
    s = world.scenario
    n_pairs = len(world.pairs)
    if s["model"] == "accurate":
        a_better = rng.random((n_pairs, PROMPTS)) < world.win_rate[:, None]
        better_left = rng.random((n_pairs, PROMPTS, RATERS)) < 0.5
        correct = rng.random(better_left.shape) < np.where(better_left, 0.85, 0.75)
        votes = np.where(correct == a_better[:, :, None], A, B)
    else:
        shape = (n_pairs, PROMPTS, RATERS)
        # Raters arrive by round: with drift two waves of 30, else all 60 all along; 5 distinct per item.
        half = POOL // 2 if s.get("drift") else POOL
        keys = rng.random((n_pairs, PROMPTS, half))
        chosen = np.argpartition(keys, RATERS, axis=2)[:, :, :RATERS]
        wave = (np.arange(PROMPTS) >= PROMPTS // 2) if s.get("drift") else np.zeros(PROMPTS, dtype=bool)
        rater = chosen + (wave[None, :, None] * half)
        randoms = np.zeros(POOL, dtype=bool)
        randoms[rng.choice(POOL, int(POOL * RANDOM_SHARE), replace=False)] = True
        q = np.broadcast_to(world.q[:, None, None], shape).copy()
        if s.get("drift"):
            for p, (q1, q2) in world.q_drift.items():
                q[p] = np.where(wave[:, None], q2, q1)
        logit = np.log(np.clip(q, 1e-12, 1 - 1e-12) / np.clip(1 - q, 1e-12, 1))
        if s.get("prompt_sd"):
            logit = logit + rng.normal(0, s["prompt_sd"], (n_pairs, PROMPTS, 1))
        if s.get("spread"):
            logit = logit * rng.uniform(1 - s["spread"], 1 + s["spread"], POOL)[rater]
        q = 1 / (1 + np.exp(-logit))
        a_left = rng.random((n_pairs, PROMPTS, 1)) < 0.5
        u, v = rng.random(shape), rng.random(shape)
        is_random = randoms[rater]
        left = np.where(a_left, A, B)
        decided = np.where(v < q, A, B)
        votes = np.where(u < TIE_RATE, T, np.where(u < TIE_RATE + (1 - TIE_RATE) * LEFT_RATE, left, decided))
        votes = np.where(is_random, rng.integers(0, 3, shape), votes)
    counts = np.stack([np.cumsum(votes == c, axis=2) for c in range(3)], axis=3)  # pair, item, after vote k, choice
    final = counts[:, :, -1, :]
    outcome = np.where(final[..., A] > np.maximum(final[..., B], final[..., T]), A,
                       np.where(final[..., B] > np.maximum(final[..., A], final[..., T]), B, T))
    ordered = np.sort(counts, axis=3)
    remaining = RATERS - np.arange(1, RATERS + 1)
    decided_at = (ordered[..., 2] - ordered[..., 1]) > remaining  # analysis.outcomes.outcome_decided
    decided_at[..., -1] = True
    return outcome, decided_at.argmax(axis=2) + 1


def full_design(outcome: np.ndarray, alpha: float) -> list[int | None]:
    wins, losses = (outcome == A).sum(axis=1), (outcome == B).sum(axis=1)
    adjusted = holm([binomial_p_value(int(w), int(w + b)) for w, b in zip(wins, losses, strict=True)])
    return [None if p is None or p > alpha else (A if w > b else B) for p, w, b in zip(adjusted, wins, losses, strict=True)]


class Lazy:
    """A pair's Monitor fed its items only as far as a question needs."""

    def __init__(self, outcomes: np.ndarray, first_row: int, burn_in: float):
        self.outcomes = [CODES[o] for o in outcomes]
        self.monitor = sequential.Monitor(PROMPTS, first_row, burn_in)
        self.limit = PROMPTS

    def first(self, row: int) -> int:
        m = self.monitor
        while not m.first[row] and m.items < self.limit:
            m.add(self.outcomes[m.items], final=m.items == PROMPTS - 1)
        return int(m.first[row])

    def look(self, items: int) -> int:
        return self.monitor.at.index(items)


def dynamic_design(outcome: np.ndarray, alpha: float, burn_in: float, ranking: bool = False) -> dict:
    """Items served per pair, each pair's claim (A, B or None) and how (settled or implied), the settle
    round, and each settled pair's repeated interval at alpha / pairs at settlement and its drift check."""
    n_pairs = len(outcome)
    first_row = int(np.searchsorted(sequential.P_GRID, alpha / n_pairs * (1 + 1e-12), side="right")) - 1
    lazy = [Lazy(outcome[p], first_row, burn_in) for p in range(n_pairs)]
    served = np.full(n_pairs, PROMPTS)
    claim: list[int | None] = [None] * n_pairs
    implied_by: list[bool] = [False] * n_pairs
    settled_at: dict[int, int] = {}
    unsettled, open_pairs, now = set(range(n_pairs)), set(range(n_pairs)), 0
    while unsettled:
        level = alpha / len(unsettled)
        row = lazy[0].monitor.row(level)
        times = {}
        for p in unsettled:
            f = lazy[p].first(row)
            if f:
                times[p] = (max(now, f), f)
        if not times:
            break
        now = min(t for t, _ in times.values())
        for p, (t, f) in times.items():
            if t == now:
                m = lazy[p].monitor
                i = lazy[p].look(f)
                claim[p] = A if 2 * m.a[i] > m.decisive[i] else B
                if p in open_pairs:
                    served[p] = now
                settled_at[p] = f
                unsettled.discard(p)
                open_pairs.discard(p)
        if ranking:
            winners = {RANKING_NAMES[p]: RANKING_NAMES[p][0] if claim[p] == A else RANKING_NAMES[p][1] for p in settled_at}
            implied = sequential.implied_orders(winners)
            for p in list(open_pairs):
                names = RANKING_NAMES[p]
                if names in implied:
                    open_pairs.discard(p)
                    served[p] = lazy[p].limit = now
                    claim[p] = A if implied[names] == names[0] else B
                    implied_by[p] = True
    intervals, drift = {}, {}
    level = alpha / n_pairs
    for p, f in settled_at.items():
        m = lazy[p].monitor
        looks = lazy[p].look(f) + 1
        intervals[p] = sequential.monitor_interval(m, level, looks)
        drift[p] = sequential.drift_p(lazy[p].outcomes[:f]) <= sequential.DRIFT_LEVEL
    return {"served": served, "claim": claim, "implied": implied_by, "settled_at": settled_at, "intervals": intervals,
            "drift": drift}


RANKING_NAMES: dict[int, tuple[str, str]] = {}


def check_against_settle(outcome: np.ndarray, alpha: float, burn_in: float, result: dict) -> None:
    """The event loop against `settle` on the paths so far, every 20 rounds: the same pairs settled, the same way."""
    n_pairs = len(outcome)
    for rnd in [*range(20, PROMPTS, 20), PROMPTS]:
        paths = {p: sequential.Path([CODES[o] for o in outcome[p][: min(rnd, result["served"][p])]], PROMPTS,
                                    complete=rnd == PROMPTS and result["served"][p] == PROMPTS, burn_in=burn_in)
                 for p in range(n_pairs)}
        states = sequential.settle(paths, alpha)
        for p in range(n_pairs):
            ours = p in result["settled_at"] and result["served"][p] <= rnd
            assert states[p].settled == ours, (rnd, p, states[p], result["served"][p])
            if ours:
                assert CODES.index(states[p].direction) == result["claim"][p], (rnd, p)


def one_study(task: tuple) -> dict:
    world, seed, alpha, burn_in, check, ranking, rho, share = task
    sequential.RHO, sequential.SHARE = rho, share
    rng = np.random.default_rng(seed)
    outcome, votes_needed = simulate(world, rng)
    full = full_design(outcome, alpha)
    ranked = dynamic_design(outcome, alpha, burn_in, ranking=True) if ranking else None
    # Until a pair stops by transitivity the ranking design is the dynamic one: reuse it when none did.
    dyn = ranked if ranked is not None and not any(ranked["implied"]) else dynamic_design(outcome, alpha, burn_in)
    if check:
        check_against_settle(outcome, alpha, burn_in, dyn)
    out = {"full": full, "dynamic": dyn, "votes_item_stop": int(sum(votes_needed[p, : s].sum() for p, s in enumerate(dyn["served"]))),
           "full_item_stop": int(votes_needed.sum()), "decisive_rate": _neighbour_rate(world, outcome),
           "ties": float((outcome == T).mean()), "wins": (outcome == A).sum(axis=1), "decisive": (outcome != T).sum(axis=1)}
    if ranking:
        out["ranking"] = ranked
    return out


def _neighbour_rate(world: World, outcome: np.ndarray) -> float:
    """A's share of the decisive items over the chain's neighbouring pairs (i, i + 1)."""
    ps = [p for p, (i, j) in enumerate(world.pairs) if j == i + 1 and j < SYSTEMS]
    if not ps:
        return float("nan")
    wins, decisive = (outcome[ps] == A).sum(), (outcome[ps] != T).sum()
    return float(wins / decisive) if decisive else float("nan")


def clopper_pearson(hits: int, n: int) -> tuple[float, float]:
    low = 0.0 if hits == 0 else float(beta_dist.ppf(0.025, hits, n - hits + 1))
    high = 1.0 if hits == n else float(beta_dist.ppf(0.975, hits + 1, n - hits))
    return low, high


def errors(world: World, claims: list) -> bool:
    return any(c is not None and c != t for c, t in zip(claims, world.true_dir, strict=True))


def summarize(name: str, world: World, results: list[dict], alpha: float, burn_in: float, args) -> dict:
    n = len(results)
    full_votes = len(world.pairs) * PROMPTS * RATERS
    votes = np.mean([r["dynamic"]["served"].sum() * RATERS for r in results])
    item_stop = np.mean([r["votes_item_stop"] for r in results])
    full_item_stop = np.mean([r["full_item_stop"] for r in results])
    fw_dyn = sum(errors(world, r["dynamic"]["claim"]) for r in results)
    fw_full = sum(errors(world, r["full"]) for r in results)
    same = decided = 0
    worst, worst_pair, below, rare = 1.0, None, [], []
    for p in range(len(world.pairs)):
        ks = [k for k, r in enumerate(results) if r["full"][p] is not None]
        if not ks or world.true_dir[p] is None:
            continue
        s = sum(results[k]["dynamic"]["claim"][p] == results[k]["full"][p] for k in ks)
        same, decided = same + s, decided + len(ks)
        if len(ks) < n / 2:
            rare.append((s, len(ks), world.pairs[p]))
        if len(ks) >= n / 2 and s / len(ks) < worst:
            worst, worst_pair = s / len(ks), world.pairs[p]
        if s < 0.95 * len(ks):
            below.append(f"{world.pairs[p]} {s / len(ks):.0%} of {len(ks)}")
    # The truth the intervals are checked against: one half for an equal pair, else the pair's decisive win
    # rate pooled over every study's items (the rater models blunt the pairs' rates in ways not computed here).
    pooled = np.sum([r["wins"] for r in results], axis=0) / np.maximum(np.sum([r["decisive"] for r in results], axis=0), 1)
    truth = np.where([d is None for d in world.true_dir], 0.5, pooled)
    covered = total = 0
    false_settle = flagged_false = true_settle = flagged_true = 0
    for r in results:
        d = r["dynamic"]
        for p, (lo, hi) in d["intervals"].items():
            total += 1
            covered += lo <= truth[p] <= hi
            wrong = d["claim"][p] != world.true_dir[p]
            false_settle += wrong
            flagged_false += wrong and d["drift"][p]
            true_settle += not wrong
            flagged_true += (not wrong) and d["drift"][p]
    lo, hi = clopper_pearson(fw_dyn, n)
    row = {
        "scenario": name, "studies": n, "saved": 1 - votes / full_votes, "saved_item_stop": 1 - item_stop / full_votes,
        "full_item_stop_saved": 1 - full_item_stop / full_votes, "fwer": fw_dyn / n, "fwer_ci": (lo, hi),
        "fwer_full": fw_full / n, "agree": same / max(decided, 1), "worst": worst, "worst_pair": worst_pair, "below": below,
        "rare": rare,
        "coverage": covered / max(total, 1), "settlements": total, "false_settlements": false_settle,
        "flagged_false": flagged_false, "flag_true": flagged_true / max(true_settle, 1), "true_settlements": true_settle,
        "ties": np.mean([r["ties"] for r in results]),
        "neighbour": np.mean(rates) if (rates := [r["decisive_rate"] for r in results if not math.isnan(r["decisive_rate"])]) else None,
    }
    if "ranking" in results[0]:
        rk = sum(errors(world, r["ranking"]["claim"]) for r in results)
        row["ranking_fwer"], row["ranking_ci"] = rk / n, clopper_pearson(rk, n)
        row["ranking_saved"] = 1 - np.mean([r["ranking"]["served"].sum() * RATERS for r in results]) / full_votes
    return row


def print_row(row: dict, alpha: float) -> None:
    lo, hi = row["fwer_ci"]
    neighbour = f"; neighbours' decisive win rate {row['neighbour']:.3f}" if row["neighbour"] is not None else ""
    print(f"\n== {row['scenario']}: {row['studies']} studies; items tied {row['ties']:.1%}{neighbour}")
    print(f"  votes saved: dynamic {row['saved']:.1%}; with the per-item early stop {row['saved_item_stop']:.1%} "
          f"(the item stop alone {row['full_item_stop_saved']:.1%})")
    print(f"  family-wise error: dynamic {row['fwer']:.2%} [{lo:.2%}, {hi:.2%}] (alpha {alpha}); full design {row['fwer_full']:.2%}")
    print(f"  same decision as the full design where it decides: {row['agree']:.1%} over every pair and study; worst pair "
          f"{row['worst_pair']} {row['worst']:.1%} (among pairs it decides in half the studies or more)")
    if row["rare"]:
        s, k = sum(r[0] for r in row["rare"]), sum(r[1] for r in row["rare"])
        low = min(row["rare"], key=lambda r: r[0] / r[1])
        print(f"  pairs the full design decides in under half the studies: {len(row['rare'])}, decided the same way in "
              f"{s / k:.1%} of their {k} decisions; the lowest {low[2]} {low[0] / low[1]:.1%} of {low[1]}")
    if row["below"]:
        print(f"  pairs decided the same way in under 95% of the studies where the full design decides them: {'; '.join(row['below'])}")
    print(f"  repeated intervals at settlement (alpha / pairs) cover the pair's decisive win rate: {row['coverage']:.2%} of "
          f"{row['settlements']} settlements")
    print(f"  drift check (early vs late half, level {sequential.DRIFT_LEVEL}): flags {row['flagged_false']} of "
          f"{row['false_settlements']} false settlements; {row['flag_true']:.1%} of {row['true_settlements']} true ones")
    if "ranking_fwer" in row:
        rl, rh = row["ranking_ci"]
        print(f"  ranking (transitivity): family-wise error {row['ranking_fwer']:.2%} [{rl:.2%}, {rh:.2%}]; votes saved "
              f"{row['ranking_saved']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="default: every scenario")
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rho", type=float, default=sequential.RHO, help="spending exponent to try (the platform uses RHO)")
    parser.add_argument("--share", type=float, default=sequential.SHARE,
                        help="share of alpha the looks before a pair's last item may spend (the platform uses SHARE)")
    parser.add_argument("--burn-in", type=float, default=0.0, help="share of a pair's items before it may settle")
    parser.add_argument("--ranking", action="store_true", help="also run the ranking option (always on for all-equal)")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--report-every", type=int, default=0, metavar="N", help="also print the row of the first N, 2N, ... studies")
    parser.add_argument("--check", type=int, default=0, metavar="N", help="check the event loop against settle() on N studies")
    parser.add_argument("--live", type=int, default=0, metavar="N",
                        help="also run N small studies through the real assignment code on PostgreSQL (DATABASE_URL)")
    args = parser.parse_args()
    sequential.RHO, sequential.SHARE = args.rho, args.share
    print(f"settings: {SYSTEMS + 1} systems ({SYSTEMS} in a chain, neighbours' decisive win rate {NEIGHBOUR}, and a twin of "
          f"system {TWIN_OF}), {PROMPTS} prompts, {RATERS} raters per item from a pool of {POOL};\n  alpha {args.alpha} "
          f"family-wise, rho {args.rho}, share {args.share}, burn-in {args.burn_in}, {args.studies} studies per scenario, "
          f"seed {args.seed}, {args.processes} processes")
    for name in args.scenario or list(SCENARIOS):
        started = time.perf_counter()
        world = World(SCENARIOS[name])
        RANKING_NAMES.clear()
        RANKING_NAMES.update({p: (f"s{i}", f"s{j}") for p, (i, j) in enumerate(world.pairs)})
        ranking = args.ranking or name == "all-equal"
        tasks = [(world, (args.seed, k), args.alpha, args.burn_in, k < args.check, ranking, args.rho, args.share)
                 for k in range(args.studies)]
        results: list[dict] = []
        with Pool(args.processes, initializer=_names, initargs=(dict(RANKING_NAMES),)) if args.processes > 1 else nullcontext() as pool:
            for result in (pool.imap(one_study, tasks, chunksize=4) if pool else map(one_study, tasks)):
                results.append(result)
                if args.report_every and len(results) % args.report_every == 0 and len(results) < len(tasks):
                    # The first N studies so far (in seed order): a row of its own, should the run be cut short.
                    print_row(summarize(name, world, results, args.alpha, args.burn_in, args), args.alpha)
                    print(f"  (so far: {time.perf_counter() - started:.0f} s)", flush=True)
        print_row(summarize(name, world, results, args.alpha, args.burn_in, args), args.alpha)
        print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.live:
        from dynamic_live import run as run_live

        if not run_live(args.live, strengths(), 0.8, 0.05, args.seed):
            sys.exit("error: the live studies broke an invariant")


def _names(names: dict) -> None:
    RANKING_NAMES.update(names)


if __name__ == "__main__":
    main()
