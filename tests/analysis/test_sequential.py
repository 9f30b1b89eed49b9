"""Dynamic evaluation's stopping rule (analysis/sequential.py): its error rate under continuous
monitoring, Holm across pairs, when an item's outcome is final, and orders implied by transitivity."""

import itertools

import numpy as np
import pytest

from analysis import sequential
from analysis.planning import critical_counts
from analysis.sequential import A_WINS, B_WINS, TIE, Finished, Path


def crossing_chance(cap: int, level: float, tie: float = 0.0, p_a: float = 0.5) -> float:
    """The exact chance that a pair of `cap` items ever crosses, looked at after every item, by
    enumerating every path of A wins, B wins and ties (a tie with chance `tie`)."""
    total = 0.0
    choices = (A_WINS, B_WINS, TIE) if tie else (A_WINS, B_WINS)
    chance = {A_WINS: (1 - tie) * p_a, B_WINS: (1 - tie) * (1 - p_a), TIE: tie}
    # The rows of P_GRID from the level's up are those of the whole grid (a row depends on those above it only).
    first_row = sequential.Monitor(cap).row(level)
    for steps in itertools.product(choices, repeat=cap):
        if sequential.track(Path(steps, cap, complete=True), first_row).first[0]:
            total += float(np.prod([chance[s] for s in steps]))
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


@pytest.mark.parametrize("tie", [0.2, 0.45, 0.7])
@pytest.mark.parametrize("level", [0.05, 0.2])
def test_with_ties_the_exact_chance_of_a_false_conclusion_stays_within_alpha(tie, level):
    # Every one of the 3^8 paths of wins and ties, looked at after every item: information is the
    # share of items finished, so the boundaries depend on where the ties fall, and the chance of
    # ever crossing is still at most the level, whatever the tie rate.
    chance = crossing_chance(8, level, tie)
    assert 0 < chance <= level * (1 + 1e-9)


@pytest.mark.parametrize(("rho", "share"), [(2.0, 0.1), (4.0, 1.0), (1.0, 0.5)])
@pytest.mark.parametrize("tie", [0.0, 0.45])
def test_any_spending_of_the_family_keeps_the_exact_chance_within_alpha(monkeypatch, rho, share, tie):
    # The platform's spending (a share 0.1 of alpha spent as t^2 before the last look, the rest at it),
    # the power family it replaced (all of alpha as t^4) and another member: every path of 12 items
    # (7 with ties), the chance of ever crossing at most the level.
    monkeypatch.setattr(sequential, "RHO", rho)
    monkeypatch.setattr(sequential, "SHARE", share)
    chance = crossing_chance(7 if tie else 12, 0.1, tie)
    assert 0 < chance <= 0.1 * (1 + 1e-9)


def test_the_last_look_keeps_the_fixed_tests_boundary_where_the_power_family_narrows_it(monkeypatch):
    # Why a share of 0.1: a pair of 200 items with 43% ties (realistic raters), at the Holm levels of
    # its last looks (alpha / m, m up to 10): spending little before the last item leaves that look the
    # fixed-sample test's boundary for nearly every pattern of ties, so the pairs the full design decides
    # near its threshold are decided the same way; alpha * t^4 narrows it by one win or more far more often.
    def narrowed(rho, share):
        monkeypatch.setattr(sequential, "RHO", rho)
        monkeypatch.setattr(sequential, "SHARE", share)
        rng, count, looks = np.random.default_rng(5), 0, 0
        for _ in range(6):
            ties = rng.random(200) < 0.43
            monitor = sequential.Monitor(200, sequential.Monitor(200).row(0.05 / 10))
            for i, tie in enumerate(ties):
                monitor.add(TIE if tie else A_WINS, final=i == 199)
            for m in range(1, 11):
                fixed = critical_counts(np.array([monitor.decisive[-1]]), 0.05 / m)[0]
                count += monitor.k[-1][monitor.row(0.05 / m)] < fixed
                looks += 1
        return count / looks

    assert narrowed(sequential.RHO, sequential.SHARE) <= 0.15 < 0.5 <= narrowed(4.0, 1.0)


def test_ties_spend_alpha_early_instead_of_keeping_it_for_the_last_look():
    # Half the items tied: by the 100th of 200 items half the information is in, so a lead that
    # the old rule (information = decisive items over all items, alpha * t^6) could not settle before
    # the last item settles now, before the end.
    outcomes = [A_WINS, TIE] * 35 + [B_WINS, TIE] * 15
    path = Path(outcomes, cap=200)
    assert sequential.first_crossing(path, 0.05) > 0
    assert sequential.spent(0.5, 0.05) == pytest.approx(0.05 * sequential.SHARE * 0.5**sequential.RHO)


def test_the_chance_of_crossing_under_equal_systems_over_200_items_is_within_alpha():
    # Simulated paths with 45% ties, looked at after every item, at the lowest Holm level of 36 pairs.
    level = 0.05 / 36
    rng = np.random.default_rng(0)
    draws = rng.choice([A_WINS, B_WINS, TIE], size=(3000, 200), p=[0.275, 0.275, 0.45])
    crossed = np.mean([bool(sequential.first_crossing(Path(list(row), 200, complete=True), level)) for row in draws[:600]])
    assert crossed <= level + 3 * np.sqrt(level * (1 - level) / 600)


def test_a_higher_level_never_has_a_narrower_boundary():
    rng = np.random.default_rng(1)
    monitor = sequential.Monitor(120)
    for outcome in rng.choice([A_WINS, B_WINS, TIE], size=120, p=[0.3, 0.3, 0.4]):
        monitor.add(str(outcome))
    k = np.stack(monitor.k, axis=1)
    assert (np.diff(k, axis=0) >= 0).all()
    # The last item spends what is left: its boundary is as wide as the fixed-sample test's at most.
    n = monitor.decisive[-1]
    fixed = critical_counts(np.array([n]), 0.05)[0]
    row = monitor.row(0.05)
    assert fixed - 3 <= k[row, -1] <= fixed


def test_the_state_is_updated_item_by_item():
    # Feeding a Monitor one item at a time gives what tracking the whole path gives: the serving path
    # can keep it and add the items as they finish (O(new items) per update).
    rng = np.random.default_rng(2)
    outcomes = [str(o) for o in rng.choice([A_WINS, B_WINS, TIE], size=80, p=[0.4, 0.2, 0.4])]
    sequential.track(Path(outcomes[:50], 150))  # kept: the longer path below starts from its state
    whole = sequential.track(Path(outcomes, 150))
    done = sequential.track(Path(outcomes, 80, complete=True))
    monitor, ended = sequential.Monitor(150), sequential.Monitor(80)
    for i, outcome in enumerate(outcomes):
        monitor.add(outcome)
        ended.add(outcome, final=i == len(outcomes) - 1)
    assert (np.stack(monitor.k) == np.stack(whole.k)).all() and (monitor.first == whole.first).all()
    assert (np.stack(ended.k) == np.stack(done.k)).all() and (ended.first == done.first).all()
    assert len(whole.k) == len(monitor.k) and whole.items == 80


def test_a_clear_winner_settles_early_and_a_coin_flip_does_not():
    clear = Path([A_WINS] * 30 + [B_WINS] * 5, cap=200)
    look = sequential.first_crossing(clear, 0.05)
    assert 0 < look <= 35
    assert sequential.repeated_p(clear) < 0.001
    flip = Path([A_WINS, B_WINS] * 60, cap=200)
    assert sequential.first_crossing(flip, 0.05) == 0
    assert sequential.repeated_p(flip) == 1.0


def test_the_last_look_of_a_pair_ending_in_ties_spends_the_rest():
    outcomes = [A_WINS] * 14 + [B_WINS] * 4 + [TIE] * 182
    open_path = Path(outcomes, cap=300, complete=False)
    done_path = Path(outcomes, cap=300, complete=True)
    assert sequential.repeated_p(done_path) <= sequential.repeated_p(open_path)
    state = sequential.settle({"p": done_path}, alpha=0.05)["p"]
    assert state.settled and state.direction == A_WINS and state.look == 18


def test_a_burn_in_holds_a_settlement_until_its_share_of_items_has_finished():
    outcomes = [A_WINS] * 40 + [TIE] * 60
    held = sequential.first_crossing(Path(outcomes, cap=200, burn_in=0.5), 0.05)
    assert sequential.first_crossing(Path(outcomes, cap=200), 0.05) < 40
    assert held == 0  # no alpha before 100 items
    later = sequential.first_crossing(Path(outcomes + [A_WINS] * 5, cap=200, burn_in=0.5), 0.05)
    assert later >= 101


def test_the_drift_check_flags_halves_that_disagree():
    assert sequential.drift_p([A_WINS] * 30 + [B_WINS] * 30) < 0.001
    assert sequential.drift_p([A_WINS, B_WINS, TIE] * 20) > 0.5
    assert sequential.drift_p([A_WINS] * 10 + [TIE] * 10) == 1.0  # the late half has no decisive item


def test_the_drift_check_raises_false_alarms_at_most_at_its_level_without_drift():
    # Pairs of realistic tie rates and win rates 0.5 to 0.75, settled by the rule on exchangeable items: the
    # share of settlements flagged stays within the check's level (Fisher's test is exact given the halves).
    rng = np.random.default_rng(5)
    flagged = settled = 0
    for rate in (0.6, 0.7, 0.75):
        for _ in range(150):
            draws = rng.choice([A_WINS, B_WINS, TIE], size=200, p=[0.55 * rate, 0.55 * (1 - rate), 0.45])
            path = Path([str(o) for o in draws], 200, complete=True)
            state = sequential.settle({"p": path}, alpha=0.05)["p"]
            if state.settled:
                settled += 1
                flagged += sequential.drift_p(path.outcomes[: state.items]) <= sequential.DRIFT_LEVEL
    assert settled > 300
    assert flagged / settled <= sequential.DRIFT_LEVEL


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
    assert ranked["xz"].known["quality"][1] == sequential.BY_SETTLED_PAIRS
    assert ranked["xy"].questions["quality"].items < 60
    assert ranked["xy"].adjusted_p["quality"] <= 0.05


def test_implied_orders_follow_chains_and_not_cycles():
    implied = sequential.implied_orders({("a", "b"): "a", ("b", "c"): "b", ("c", "d"): "c"})
    assert implied[("a", "d")] == "a" and implied[("d", "a")] == "a"
    cycle = sequential.implied_orders({("a", "b"): "a", ("b", "c"): "b", ("c", "a"): "c"})
    assert ("a", "c") not in cycle


def test_ranking_does_not_stop_a_far_pair_on_the_model_alone():
    # a > b > c > d by 75% on the neighbours, 40 items each; a vs d has no items yet. No pair has
    # settled at alpha 0.001: nothing implies a vs d (the Bradley-Terry model would separate them,
    # but its separation has no error control), so it stays open.
    finished = []
    systems = {"ab": ("a", "b"), "bc": ("b", "c"), "cd": ("c", "d"), "ad": ("a", "d")}
    for pair in ("ab", "bc", "cd"):
        for i in range(40):
            finished.append(Finished(pair, f"{pair}{i}", i, {"quality": A_WINS if i % 4 < 3 else B_WINS}))
    caps = dict.fromkeys(systems, 200)
    states = sequential.settle_study(finished, caps, ["quality"], alpha=0.001, ranking=True, systems=systems)
    assert [states[p].status for p in systems] == [sequential.OPEN] * 4


def test_a_settlement_whose_early_and_late_items_disagree_is_flagged():
    # B wins the first 10 items, A every one after: A settles, but on items whose halves disagree.
    finished = [Finished("p", i, i, {"q": o}) for i, o in enumerate([B_WINS] * 10 + [A_WINS] * 60)]
    state = sequential.settle_study(finished, {"p": 200}, ["q"])["p"]
    assert state.status == sequential.SETTLED and state.questions["q"].direction == A_WINS
    assert state.drift_flagged("q") and state.drift["q"] < 0.01
    steady = [Finished("p", i, i, {"q": B_WINS if i % 6 == 0 else A_WINS}) for i in range(70)]
    calm = sequential.settle_study(steady, {"p": 200}, ["q"])["p"]
    assert calm.status == sequential.SETTLED and not calm.drift_flagged("q")
