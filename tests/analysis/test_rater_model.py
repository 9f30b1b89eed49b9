"""The rater-reliability sensitivity analysis (Dawid-Skene), on studies with planted raters."""

import io

import numpy as np
import pytest

from analysis import build_rater_table, build_report, read_votes
from tests.support.analysis_fixtures import Item, outcome, same, votes_csv

# Six raters of known accuracy and one who answers at random. Each item gets the random rater and two
# of the others: with two raters only (or two and a random one) reliabilities could not be told apart.
ACCURACY = {"r95": 0.95, "r90": 0.9, "r85": 0.85, "r80": 0.8, "r70": 0.7, "r65": 0.65}


def planted_study(seed: int = 4, n_items: int = 600, choices: tuple[str, ...] = ("alpha", "beta")) -> tuple[list[Item], dict[str, str]]:
    """Items with a planted true outcome and their three votes. Returns the items and each one's truth."""
    rng = np.random.default_rng(seed)
    items, truth = [], {}
    for i in range(n_items):
        right = str(rng.choice(choices))
        wrong = [c for c in choices if c != right]
        raters = [str(r) for r in rng.choice(list(ACCURACY), 2, replace=False)]
        votes = [(right if rng.random() < ACCURACY[r] else str(rng.choice(wrong)), "pixel_sharpness") for r in raters]
        votes.append((str(rng.choice(choices)), "pixel_sharpness"))
        items.append(Item(str(i), "alpha", "beta", {"quality": votes}, prompt_id=f"p{i}", raters=[*raters, "random"]))
        truth[str(i)] = right
    return items, truth


def decided_by_the_random_rater(items: list[Item], reliability: dict[str, float]) -> dict[str, str]:
    """Items whose two other raters disagree, so the random vote made the majority: item -> the choice of the more reliable one."""
    decided = {}
    for item in items:
        (first, _), (second, _), _random = item.votes["quality"]
        if first != second:
            better = max(range(2), key=lambda k: reliability[item.raters[k]])
            decided[item.item] = item.votes["quality"][better][0]
    return decided


@pytest.fixture(scope="module")
def planted():
    items, truth = planted_study()
    report = build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0, rater_model=True)
    return items, truth, report


def test_the_random_rater_is_down_weighted(planted):
    _items, _truth, report = planted
    reliability = {r["rater"]: r["model_reliability"] for r in report["raters"]}
    assert min(reliability, key=reliability.get) == "random"
    assert reliability["random"] == pytest.approx(0.5, abs=0.06)
    for rater, accuracy in ACCURACY.items():
        assert reliability[rater] == pytest.approx(accuracy, abs=0.08)


def test_the_outcomes_the_random_rater_decided_flip_back(planted):
    items, truth, report = planted
    model = report["rater_model"]
    changed = {c["item"]: c for c in model["changed_items"]}
    reliability = {r["rater"]: r["model_reliability"] for r in report["raters"]}
    decided = decided_by_the_random_rater(items, reliability)
    # Only items the random rater decided change, each to the choice of the rater the model found more reliable.
    assert set(changed) <= set(decided)
    assert all(c["model"] == decided[item] and c["majority"] != c["model"] for item, c in changed.items())
    # Where the two others' planted accuracies differ by 0.15 or more, every item the random rater decided against
    # the better one flips.
    clear = {
        item.item
        for item in items
        if item.item in decided and abs(ACCURACY[item.raters[0]] - ACCURACY[item.raters[1]]) >= 0.15 and outcome(item) != decided[item.item]
    }
    assert len(clear) > 30
    assert clear <= set(changed)
    assert model["items_changed"] == len(changed)
    # The flips restore the planted truth more often than they lose it, so the model is right on more items.
    restored = sum(truth[item] == c["model"] for item, c in changed.items())
    assert restored / len(changed) > 0.6
    majority_right = sum(outcome(item) == truth[item.item] for item in items)
    assert majority_right + restored - (len(changed) - restored) > majority_right + 20


def test_each_pairs_wins_under_the_model(planted):
    _items, _truth, report = planted
    (pair,) = report["rater_model"]["pairs"]
    flipped_to_alpha = sum(c["model"] == "alpha" for c in report["rater_model"]["changed_items"])
    flipped_to_beta = len(report["rater_model"]["changed_items"]) - flipped_to_alpha
    majority = report["pairs"][0]
    assert (pair["wins_a"], pair["wins_b"]) == (
        majority["wins_a"] + flipped_to_alpha - flipped_to_beta,
        majority["wins_b"] + flipped_to_beta - flipped_to_alpha,
    )
    assert pair["items_changed"] == report["rater_model"]["items_changed"]
    assert report["rater_model"]["classes"] == ["system_a", "system_b"]


def test_with_ties_offered_the_model_has_three_classes():
    items, _truth = planted_study(seed=8, n_items=600, choices=("alpha", "beta", "tie"))
    report = build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0, rater_model=True)
    assert report["rater_model"]["classes"] == ["system_a", "system_b", "tie"]
    reliability = {r["rater"]: r["model_reliability"] for r in report["raters"]}
    assert min(reliability, key=reliability.get) == "random"
    assert reliability["random"] == pytest.approx(1 / 3, abs=0.08)
    assert reliability["r95"] > reliability["r65"] + 0.1


def test_unanimous_raters_change_nothing():
    items = [Item(str(i), "alpha", "beta", {"quality": same("alpha" if i % 3 else "beta", 3)}, prompt_id=f"p{i}") for i in range(12)]
    report = build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=0, rater_model=True)
    assert report["rater_model"]["items_changed"] == 0
    assert report["rater_model"]["changed_items"] == []


def test_the_model_is_off_by_default():
    items, _truth = planted_study(n_items=30)
    votes = read_votes(io.StringIO(votes_csv(items)))
    report = build_report(votes, bootstrap=0)
    assert report["rater_model"] is None
    assert all("model_reliability" not in r for r in report["raters"])
    assert "model_reliability" not in build_rater_table(votes).columns
    assert list(build_rater_table(votes, rater_model=True).columns)[-1] == "model_reliability"
