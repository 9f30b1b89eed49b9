"""The statistics against published reference values and independent implementations."""

import io
import itertools
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import binomtest

from analysis import agreement, build_report, read_votes
from analysis.proportions import binomial_p_value, wilson_interval
from analysis.ranking import ELO_PER_NAT, fit_strengths
from tests.support.analysis_fixtures import Item, votes_csv

NA = None


def value_counts(ratings: list[tuple], categories: list | None = None) -> np.ndarray:
    """(units, categories) counts from one tuple of raters' values per unit, None for missing."""
    categories = categories or sorted({v for unit in ratings for v in unit if v is not None})
    return np.array([[sum(v == c for v in unit) for c in categories] for unit in ratings])


def by_rater(*columns: list) -> list[tuple]:
    return list(zip(*columns, strict=True))


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, values 1-5, missing data. The same data are Gwet's (2014) Handbook example on p. 120.
KRIPPENDORFF_2011 = by_rater(
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
    [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
)

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses (depression, personality
# disorder, schizophrenia, neurosis, other), as the number of raters giving each diagnosis.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
        [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
        [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
        [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
    ]
)  # fmt: skip


def test_krippendorff_alpha_nominal_matches_krippendorff_2011():
    assert agreement.krippendorff_alpha(value_counts(KRIPPENDORFF_2011)) == pytest.approx(0.743, abs=5e-4)


def test_fleiss_kappa_matches_fleiss_1971():
    assert agreement.fleiss_kappa(FLEISS_1971) == pytest.approx(0.430, abs=5e-4)


def test_gwet_ac1_matches_gwet_handbook_four_raters_with_missing_ratings():
    # Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., p. 120: AC1 = 0.7754 (pa 0.8182, pe 0.1903).
    counts = value_counts(KRIPPENDORFF_2011)
    assert agreement.gwet_ac1(counts, n_categories=5) == pytest.approx(0.7754, abs=5e-5)


def test_gwet_ac1_matches_gwet_handbook_five_observers():
    # Gwet (2014), 5 observers scoring 15 units on 0-3, many ratings missing: AC1 = 0.497.
    ratings = by_rater(
        [1, 1, 2, NA, 0, 0, 1, 1, 2, 2, NA, 0, 1, 3, 1],
        [1, 1, 3, 0, 0, 0, 0, NA, 2, 1, 1, 0, 2, 3, 1],
        [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
        [NA, 1, 3, NA, NA, NA, NA, 0, NA, 1, 0, 0, 2, 2, NA],
        [2, NA, NA, 0, 0, 0, 1, NA, 2, NA, NA, NA, NA, 3, 1],
    )
    assert agreement.gwet_ac1(value_counts(ratings), n_categories=4) == pytest.approx(0.497, abs=5e-4)


@pytest.mark.parametrize(
    ("table", "published"),
    [
        # Gwet (2014): two abstractors classifying 100 pregnancies (ectopic, abnormal, normal): AC1 = 0.849.
        ([[13, 0, 0], [0, 20, 7], [0, 4, 56]], 0.849),
        # Gwet (2014): 223 psychiatric patients, clinical vs research diagnosis, 4 categories: AC1 = 0.456.
        ([[40, 6, 4, 15], [4, 25, 1, 5], [4, 2, 21, 9], [17, 13, 12, 45]], 0.456),
    ],
)
def test_gwet_ac1_matches_gwet_handbook_two_rater_tables(table, published):
    # A two-rater contingency table as units: each subject has one rating in its row's category and one in its column's.
    table = np.array(table)
    q = len(table)
    units = [np.eye(q, dtype=int)[i] + np.eye(q, dtype=int)[j] for i in range(q) for j in range(q) for _ in range(table[i, j])]
    assert agreement.gwet_ac1(np.array(units), n_categories=q) == pytest.approx(published, abs=5e-4)


def test_coefficients_are_none_where_undefined():
    all_one_way = np.array([[5, 0, 0], [5, 0, 0]])
    assert agreement.fleiss_kappa(all_one_way) is None
    assert agreement.krippendorff_alpha(all_one_way) is None
    single_ratings = np.array([[1, 0, 0], [0, 1, 0]])
    assert agreement.krippendorff_alpha(single_ratings) is None
    assert agreement.gwet_ac1(single_ratings, n_categories=2) is None
    assert agreement.percent_unanimous(np.zeros((0, 3), dtype=int)) is None


@pytest.mark.parametrize(("successes", "trials"), [(0, 1), (1, 1), (3, 4), (14, 20), (500, 1000), (999, 1000)])
def test_wilson_interval_and_binomial_p_value_match_scipy(successes, trials):
    test = binomtest(successes, trials, 0.5)
    interval = test.proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(successes, trials) == pytest.approx([interval.low, interval.high], abs=1e-12)
    assert binomial_p_value(successes, trials) == pytest.approx(test.pvalue, abs=1e-12)


def test_wilson_interval_and_p_value_are_none_without_trials():
    assert wilson_interval(0, 0) is None
    assert binomial_p_value(0, 0) is None


def random_items(rng: np.random.Generator, systems: list[str], n_items: int) -> list[Item]:
    strength = dict(zip(systems, rng.normal(0, 1, len(systems)), strict=True))
    items = []
    for i in range(n_items):
        a, b = rng.choice(systems, 2, replace=False)
        p_a = 1 / (1 + math.exp(strength[b] - strength[a]))
        # Four raters and a no-preference option: some items end in a tie.
        choices = [str(rng.choice([a, b, "tie"], p=[0.8 * p_a, 0.8 * (1 - p_a), 0.2])) for _ in range(4)]
        items.append(Item(str(i), str(a), str(b), {"quality": [(c, "pixel_sharpness") for c in choices]}, prompt_id=f"p{i}"))
    return items


def logit_strengths(report_items: list[Item], systems: list[str]) -> np.ndarray:
    """Strengths fitted independently: a logistic regression on the design matrix of item outcomes.

    Each item is a row +1 for system_a, -1 for system_b, outcome 1 / 0 / 0.5 (tie). The prior of
    the ranking, one virtual tie of every system against an anchor of strength 0, is one row per
    system with outcome 0.5.
    """
    rows, outcomes = [], []
    for item in report_items:
        votes = [c for c, _ in item.votes["quality"]]
        n_a, n_b, n_tie = votes.count(item.system_a), votes.count(item.system_b), votes.count("tie")
        top = max(n_a, n_b, n_tie)
        winner = [label for label, n in (("a", n_a), ("b", n_b), ("tie", n_tie)) if n == top]
        outcome = {"a": 1.0, "b": 0.0}.get(winner[0], 0.5) if len(winner) == 1 else 0.5
        x = np.zeros(len(systems))
        x[systems.index(item.system_a)], x[systems.index(item.system_b)] = 1, -1
        rows.append(x)
        outcomes.append(outcome)
    rows += list(np.eye(len(systems)))
    outcomes += [0.5] * len(systems)
    return sm.Logit(np.array(outcomes), np.array(rows)).fit(disp=0, tol=1e-12).params


def test_bradley_terry_ratings_match_a_logistic_regression():
    rng = np.random.default_rng(7)
    systems = ["alpha", "beta", "gamma", "delta"]
    items = random_items(rng, systems, 300)
    report = build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0)

    strengths = logit_strengths(items, systems)
    expected = strengths * ELO_PER_NAT
    expected = dict(zip(systems, expected - expected.mean() + 1000, strict=True))
    ratings = {entry["system"]: entry["rating"] for entry in report["ranking"]["quality"]}
    assert ratings == pytest.approx(expected, abs=1e-3)
    assert sum(ratings.values()) / len(ratings) == pytest.approx(1000)


def test_fit_strengths_maximises_the_logit_likelihood_of_a_wins_matrix():
    wins = np.array([[0, 30, 12], [10, 0, 7], [2, 9, 0]])
    rows, outcomes = [], []
    for i, j in itertools.permutations(range(3), 2):
        x = np.zeros(3)
        x[i], x[j] = 1, -1
        rows += [x] * wins[i, j]
        outcomes += [1.0] * wins[i, j]
    rows += list(np.eye(3))  # the prior's virtual ties
    outcomes += [0.5] * 3
    expected = sm.Logit(np.array(outcomes), np.array(rows)).fit(disp=0, tol=1e-12).params
    assert fit_strengths(wins.astype(float)) == pytest.approx(expected, abs=1e-6)


def test_fleiss_kappa_matches_statsmodels_on_random_counts():
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

    rng = np.random.default_rng(2)
    for raters, shares in ((5, [0.5, 0.3, 0.2]), (3, [0.6, 0.4]), (7, [0.2, 0.2, 0.6])):
        counts = rng.multinomial(raters, shares, size=50)
        assert agreement.fleiss_kappa(counts) == pytest.approx(statsmodels_fleiss_kappa(counts, method="fleiss"), abs=1e-12)


def test_fit_strengths_fits_a_stack_of_wins_matrices_like_each_on_its_own():
    rng = np.random.default_rng(9)
    stack = rng.integers(0, 20, size=(5, 4, 4)).astype(float)
    stack[:, np.arange(4), np.arange(4)] = 0
    stack[0, 0, :] = [0, 30, 25, 40]  # a system that never loses: finite thanks to the prior
    stack[0, :, 0] = 0
    together = fit_strengths(stack)
    assert np.isfinite(together).all()
    assert together == pytest.approx(np.array([fit_strengths(wins) for wins in stack]), abs=1e-9)
