"""Dynamic evaluation's stopping rule (analysis/sequential.py): its error rate under continuous
monitoring, Holm across pairs, when an item's outcome is final, and orders implied by transitivity."""

import itertools

import numpy as np
import pytest

from analysis import sequential
from analysis.planning import critical_counts
from analysis.sequential import A_WINS, B_WINS, TIE, Finished, Path


def crossing_chance(cap: int, level: float, p_a: float = 0.5) -> float:
    """The exact chance that a pair of `cap` items ever crosses, by enumerating every path."""
    total = 0.0
    for steps in itertools.product((A_WINS, B_WINS), repeat=cap):
        if sequential.first_crossing(Path(steps, cap, complete=True), level):
            wins = steps.count(A_WINS)
            total += p_a**wins * (1 - p_a) ** (cap - wins)
    return total


@pytest.mark.parametrize("level", [0.05, 0.2])
def test_watching_after_every_item_keeps_the_chance_of_a_false_conclusion_within_alpha(level):
    # Every one of the 2^14 paths, looked at after each item: the chance of ever crossing when
    # the systems are equal is at most the level (a fixed-sample test re-run after every item
    # would cross far more often).
    chance = crossing_chance(14, level)
    assert 0 < chance <= level
    naive = 0.0
    c = critical_counts(np.arange(1, 15), level)
    for steps in itertools.product((1, 0), repeat=14):
        wins, n = np.cumsum(steps), np.arange(1, 15)
        if (((wins <= c) | (wins >= n - c)) & (c >= 0)).any():
            naive += 2.0**-14
    assert naive > 1.3 * level


def test_the_chance_of_crossing_under_equal_systems_over_200_items_is_within_alpha():
    level = 0.05
    k = sequential.boundaries(200)[np.searchsorted(sequential.P_GRID, level, side="right") - 1]
    rng = np.random.default_rng(0)
    wins = rng.integers(0, 2, size=(40_000, 200)).cumsum(axis=1)
    n = np.arange(1, 201)
    crossed = (((wins <= k) | (wins >= n - k)) & (k >= 0)).any(axis=1).mean()
    assert crossed <= level + 3 * np.sqrt(level * (1 - level) / 40_000)
    # Most of alpha is kept for the end: the last look is within one item of the fixed-sample test's.
    assert k[-1] >= critical_counts(np.array([200]), level)[0] - 1


def test_a_higher_level_never_has_a_narrower_boundary():
    k = sequential.boundaries(120)
    assert (np.diff(k, axis=0) >= 0).all()
    final = sequential.boundaries(120, looks=90, final=True)
    assert (np.diff(final, axis=0) >= 0).all()
    # The last look of a pair whose items are all decided with ties spends what is left.
    assert final[-1, -1] >= k[-1, 89]


def test_a_clear_winner_settles_early_and_a_coin_flip_does_not():
    clear = Path([A_WINS] * 30 + [B_WINS] * 5, cap=200)
    look = sequential.first_crossing(clear, 0.05)
    assert 0 < look <= 35
    assert sequential.repeated_p(clear) < 0.001
    flip = Path([A_WINS, B_WINS] * 60, cap=200)
    assert sequential.first_crossing(flip, 0.05) == 0
    assert sequential.repeated_p(flip) == 1.0


def test_ties_are_not_looks_and_the_last_look_spends_the_rest():
    outcomes = [A_WINS] * 14 + [B_WINS] * 4 + [TIE] * 182
    open_path = Path(outcomes, cap=200, complete=False)
    done_path = Path(outcomes, cap=200, complete=True)
    assert sequential.repeated_p(done_path) <= sequential.repeated_p(open_path)
    state = sequential.settle({"p": done_path}, alpha=0.05)["p"]
    if state.settled:
        assert state.items <= 18  # counted in items, ties included, up to the deciding look


def test_holm_raises_the_level_of_the_others_once_one_pair_settles():
    strong = Path([A_WINS] * 40, cap=100)
    # A path that crosses at alpha but not at alpha / 2.
    borderline = None
    for wins in range(55, 80):
        spread = [B_WINS if (i + 1) * wins // 100 > i * wins // 100 else A_WINS for i in range(100)]  # B's wins evenly spread
        candidate = Path(spread, cap=100, complete=True)
        p = sequential.repeated_p(candidate)
        if 0.025 < p <= 0.05:
            borderline = candidate
            break
    assert borderline is not None
    states = sequential.settle({"strong": strong, "borderline": borderline}, alpha=0.05)
    assert states["strong"].settled and states["strong"].direction == A_WINS
    assert states["borderline"].settled and states["borderline"].direction == B_WINS
    assert states["borderline"].level == pytest.approx(0.05)
    alone = sequential.settle({"borderline": borderline, "coin": Path([A_WINS, B_WINS] * 50, 100, True)}, alpha=0.05)
    assert not alone["borderline"].settled  # with an open second pair it is tested at alpha / 2


def test_the_repeated_interval_contains_the_estimate_and_narrows():
    early = Path([A_WINS, A_WINS, B_WINS] * 10, cap=300)
    late = Path([A_WINS, A_WINS, B_WINS] * 80, cap=300)
    lo_e, hi_e = sequential.repeated_interval(early, 0.05)
    lo_l, hi_l = sequential.repeated_interval(late, 0.05)
    assert lo_l <= 2 / 3 <= hi_l and lo_e <= 2 / 3 <= hi_e
    assert hi_l - lo_l < hi_e - lo_e
    assert lo_l > 0.5  # 160 of 240 clears one half


def test_an_item_is_final_once_the_remaining_raters_cannot_change_its_majority():
    votes = [(1, "quality", A_WINS), (2, "quality", A_WINS), (3, "quality", A_WINS)]
    done = sequential.item_finished(votes, pair="p", item=1, questions=["quality"], raters=5, allow_tie=False)
    assert done == Finished("p", 1, 3, {"quality": A_WINS})
    split = [(1, "quality", A_WINS), (2, "quality", B_WINS), (3, "quality", A_WINS), (4, "quality", B_WINS)]
    assert sequential.item_finished(split, pair="p", item=1, questions=["quality"], raters=5, allow_tie=False) is None
    last = sequential.item_finished([*split, (5, "quality", B_WINS)], pair="p", item=1, questions=["quality"], raters=5,
                                    allow_tie=False)
    assert last.at == 5 and last.outcomes == {"quality": B_WINS}
    tied = [(1, "q", A_WINS), (2, "q", B_WINS), (3, "q", TIE), (4, "q", TIE), (5, "q", A_WINS), (6, "q", B_WINS)]
    final = sequential.item_finished(tied, pair="p", item=1, questions=["q"], raters=6, allow_tie=True)
    assert final.outcomes == {"q": TIE} and final.at == 6


def test_a_study_of_three_pairs_settles_the_clear_one_and_ranking_skips_the_implied_one():
    finished, caps = [], {"xy": 100, "yz": 100, "xz": 100}
    rng = np.random.default_rng(3)
    for i in range(60):
        finished.append(Finished("xy", f"xy{i}", i, {"quality": A_WINS}))
        finished.append(Finished("yz", f"yz{i}", i, {"quality": A_WINS}))
        finished.append(Finished("xz", f"xz{i}", 1000 + i, {"quality": A_WINS if rng.random() < 0.5 else B_WINS}))
    systems = {"xy": ("x", "y"), "yz": ("y", "z"), "xz": ("x", "z")}
    plain = sequential.settle_study(finished, caps, ["quality"], alpha=0.05)
    assert plain["xy"].status == plain["yz"].status == sequential.SETTLED
    assert plain["xz"].status == sequential.OPEN
    ranked = sequential.settle_study(finished, caps, ["quality"], alpha=0.05, ranking=True, systems=systems)
    assert ranked["xz"].status == sequential.NOT_NEEDED
    assert ranked["xz"].known["quality"][0] == "x"
    assert ranked["xz"].known["quality"][1] in (sequential.BY_SETTLED_PAIRS, sequential.BY_MODEL)
    assert ranked["xy"].questions["quality"].items < 60
    assert ranked["xy"].adjusted_p["quality"] <= 0.05


def test_implied_orders_follow_chains_and_not_cycles():
    implied = sequential.implied_orders({("a", "b"): "a", ("b", "c"): "b", ("c", "d"): "c"})
    assert implied[("a", "d")] == "a" and implied[("d", "a")] == "a"
    cycle = sequential.implied_orders({("a", "b"): "a", ("b", "c"): "b", ("c", "a"): "c"})
    assert ("a", "c") not in cycle


def test_ranking_stops_a_far_pair_the_model_separates_before_any_chain_settles():
    # a > b > c > d by 75% on the neighbours, 40 items each; a vs d has no items yet. No pair has
    # settled at alpha 0.001, but the Bradley-Terry model of the finished items separates a from d,
    # which are not neighbours: a vs d is not needed; the neighbours stay open.
    finished = []
    systems = {"ab": ("a", "b"), "bc": ("b", "c"), "cd": ("c", "d"), "ad": ("a", "d")}
    for pair in ("ab", "bc", "cd"):
        for i in range(40):
            finished.append(Finished(pair, f"{pair}{i}", i, {"quality": A_WINS if i % 4 < 3 else B_WINS}))
    caps = dict.fromkeys(systems, 200)
    states = sequential.settle_study(finished, caps, ["quality"], alpha=0.001, ranking=True, systems=systems)
    assert [states[p].status for p in ("ab", "bc", "cd")] == [sequential.OPEN] * 3
    assert states["ad"].status == sequential.NOT_NEEDED
    assert states["ad"].known == {"quality": ("a", sequential.BY_MODEL)}
    plain = sequential.settle_study(finished, caps, ["quality"], alpha=0.001)
    assert plain["ad"].status == sequential.OPEN
