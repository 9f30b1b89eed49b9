"""The per-pair additions (CONTRACT.md, "Additions"): net win rate and its interval, Holm p-values,
the smallest detectable win rate; each against an independent computation."""

import io
import itertools

import numpy as np
import pytest
from scipy.stats import binom, binomtest
from statsmodels.stats.multitest import multipletests

from analysis import build_report, read_votes
from analysis.proportions import holm
from tests.support.analysis_fixtures import Item, outcome, random_study, same, votes_csv


def report_of(items: list[Item], **options) -> dict:
    return build_report(read_votes(io.StringIO(votes_csv(items))), **{"bootstrap": 200, "seed": 11, **options})


def pair_of(report: dict, system_a: str, system_b: str, question: str = "quality") -> dict:
    (found,) = [p for p in report["pairs"] if (p["system_a"], p["system_b"], p["question"]) == (system_a, system_b, question)]
    return found


def independent_net_interval(items: list[Item], bootstrap: int, seed: int) -> list[float]:
    """A percentile bootstrap over the items' prompts, one resample at a time, drawing as the report documents."""
    by_prompt: dict[str, list[str]] = {}
    for item in items:
        by_prompt.setdefault(item.prompt_id, []).append(outcome(item))
    prompts = sorted(by_prompt)
    draws = np.random.default_rng(seed).integers(0, len(prompts), size=(bootstrap, len(prompts)))
    system_a, system_b = items[0].system_a, items[0].system_b
    nets = []
    for resample in draws:
        outcomes = [o for index in resample for o in by_prompt[prompts[index]]]
        nets.append((outcomes.count(system_a) - outcomes.count(system_b)) / len(outcomes))
    return list(np.percentile(nets, [2.5, 97.5]))


def uneven_study() -> tuple[list[Item], list[Item]]:
    """alpha vs beta on 9 prompts, some with two items (several samples), with ties; alpha vs gamma on 5 prompts."""
    rng = np.random.default_rng(5)
    beta, gamma = [], []
    for prompt in range(9):
        for sample in range(1 + prompt % 2):
            choices = [str(rng.choice(["alpha", "beta", "tie"], p=[0.5, 0.3, 0.2])) for _ in range(3)]
            beta.append(Item(f"b{prompt}-{sample}", "alpha", "beta", {"quality": [(c, "x") for c in choices]}, prompt_id=f"p{prompt}"))
    for prompt in range(5):
        choices = [str(rng.choice(["alpha", "gamma"], p=[0.7, 0.3])) for _ in range(3)]
        gamma.append(Item(f"g{prompt}", "alpha", "gamma", {"quality": [(c, "x") for c in choices]}, prompt_id=f"p{prompt}"))
    return beta, gamma


def test_net_win_rate_counts_ties_in_the_denominator():
    items = [
        Item("1", "alpha", "beta", {"quality": same("alpha", 3)}),
        Item("2", "alpha", "beta", {"quality": same("alpha", 3)}),
        Item("3", "alpha", "beta", {"quality": same("beta", 3)}),
        Item("4", "alpha", "beta", {"quality": same("tie", 3)}),
    ]
    pair = pair_of(report_of(items), "alpha", "beta")
    assert pair["win_rate_a"] == pytest.approx(2 / 3)
    assert pair["net_win_rate_a"] == pytest.approx((2 - 1) / 4)


def test_net_interval_matches_an_independent_bootstrap_with_the_same_seed():
    beta, gamma = uneven_study()
    report = report_of(beta + gamma, bootstrap=300, seed=11)
    for items in (beta, gamma):
        pair = pair_of(report, "alpha", items[0].system_b)
        assert pair["net_ci95"] == pytest.approx(independent_net_interval(items, 300, 11), abs=1e-12)
        assert pair["net_ci95"][0] <= pair["net_win_rate_a"] <= pair["net_ci95"][1]
    # Another seed draws other resamples.
    assert pair_of(report_of(beta, bootstrap=300, seed=12), "alpha", "beta")["net_ci95"] != pair_of(report, "alpha", "beta")["net_ci95"]


def test_net_interval_is_null_without_resamples_and_in_every_output():
    beta, _gamma = uneven_study()
    assert pair_of(report_of(beta, bootstrap=0), "alpha", "beta")["net_ci95"] is None
    assert pair_of(report_of(beta), "alpha", "beta")["net_win_rate_a"] is not None


@pytest.mark.parametrize(
    "p_values",
    [[0.01, 0.04, 0.03, 0.005], [0.2, None, 0.01, 0.5, 0.049], [0.7], [0.01, 0.01, 0.02]],
)
def test_holm_matches_statsmodels(p_values):
    tested = [p for p in p_values if p is not None]
    expected = iter(multipletests(tested, method="holm")[1])
    assert holm(p_values) == pytest.approx([None if p is None else next(expected) for p in p_values], abs=1e-15)


def test_holm_in_the_report_adjusts_across_the_pairs_of_each_question():
    items = random_study(np.random.default_rng(3), ["alpha", "beta", "gamma", "delta"], 40, 3, ("quality", "faithfulness"))
    report = report_of(items)
    for question in ("quality", "faithfulness"):
        family = [p for p in report["pairs"] if p["question"] == question]
        assert len(family) == 6
        expected = multipletests([p["p_value"] for p in family], method="holm")[1]
        assert [p["p_value_holm"] for p in family] == pytest.approx(list(expected), abs=1e-15)
        assert all(p["p_value_holm"] >= p["p_value"] for p in family)


def test_a_pair_without_decided_items_has_no_holm_p_and_does_not_count():
    items = [Item(f"ab{i}", "alpha", "beta", {"quality": same("tie", 3)}, prompt_id=f"p{i}") for i in range(3)]
    items += [Item(f"ac{i}", "alpha", "gamma", {"quality": same("alpha", 3)}, prompt_id=f"p{i}") for i in range(8)]
    report = report_of(items)
    assert pair_of(report, "alpha", "beta")["p_value_holm"] is None
    # One test in the family: Holm leaves it as it is.
    gamma = pair_of(report, "alpha", "gamma")
    assert gamma["p_value_holm"] == gamma["p_value"] == pytest.approx(2 / 2**8)


def exact_power(n: int, win_rate: float, alpha: float) -> float:
    """Power of scipy's exact two-sided binomial test, summed over every outcome it rejects."""
    return sum(binom.pmf(k, n, win_rate) for k in range(n + 1) if binomtest(k, n, 0.5).pvalue <= alpha)


def test_detectable_win_rate_is_where_the_exact_test_reaches_80_percent_power():
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha" if i % 3 else "beta", 1)}, prompt_id=f"p{i}") for i in range(40)]
    items += [Item(f"t{i}", "alpha", "beta", {"quality": same("tie", 1)}, prompt_id=f"t{i}") for i in range(5)]
    pair = pair_of(report_of(items), "alpha", "beta")
    rate = pair["detectable_win_rate"]
    decided = pair["wins_a"] + pair["wins_b"]
    assert decided == 40  # ties do not count towards the test
    assert exact_power(decided, rate, 0.05) >= 0.8
    assert exact_power(decided, rate - 1e-6, 0.05) < 0.8
    assert 0.5 < rate < 1


def test_too_few_decided_items_to_ever_be_significant_detect_nothing():
    # Five items all won by alpha: p = 2 / 2^5 = 0.0625, never below 0.05.
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha", 3)}, prompt_id=f"p{i}") for i in range(5)]
    assert pair_of(report_of(items), "alpha", "beta")["detectable_win_rate"] is None
    items.append(Item("6", "alpha", "beta", {"quality": same("alpha", 3)}, prompt_id="p6"))
    assert pair_of(report_of(items), "alpha", "beta")["detectable_win_rate"] is not None


def test_additions_are_in_the_report_csv():
    from analysis import report_rows

    report = report_of(list(itertools.chain(*uneven_study())))
    row = report_rows(report)[0]
    pair = report["pairs"][0]
    assert (row["net_win_rate_a"], row["net_ci95_low"], row["net_ci95_high"]) == (pair["net_win_rate_a"], *pair["net_ci95"])
    assert (row["p_value_holm"], row["detectable_win_rate"]) == (pair["p_value_holm"], pair["detectable_win_rate"])
