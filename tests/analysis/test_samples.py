"""Several samples per prompt (the votes CSV's `sample` column): the prompt is the unit of intervals and tests."""

import io
import json

import numpy as np
import pytest

from analysis import read_votes
from analysis.__main__ import main
from analysis.proportions import binomial_p_value, wilson_interval
from analysis.report import build_report
from analysis.samples import sign_flip_p_value
from tests.support.analysis_fixtures import Item, votes_csv

RATERS = 3


def _items(outcomes: list[str], samples: int, *, flip_sample: int | None = None) -> list[Item]:
    """One item per prompt and sample; every rater of an item votes its prompt's outcome (A or B), except
    that sample `flip_sample` of every third prompt goes the other way."""
    items = []
    for p, outcome in enumerate(outcomes):
        for s in range(samples):
            winner = outcome if not (s == flip_sample and p % 3 == 0) else ("B" if outcome == "A" else "A")
            items.append(Item(
                item=f"i{p}-{s}", system_a="A", system_b="B", prompt_id=f"p{p}", votes={"quality": [(winner, "")] * RATERS},
                extra={"sample": [str(s)] * RATERS},
            ))
    return items


def _report(items: list[Item], **options) -> dict:
    return build_report(read_votes(io.StringIO(votes_csv(items))), bootstrap=2000, seed=1, **options)


def _width(pair: dict) -> float:
    return pair["ci95"][1] - pair["ci95"][0]


OUTCOMES = ["A"] * 26 + ["B"] * 14  # 40 prompts, A wins 65%


def test_copied_samples_give_an_interval_as_wide_as_one_sample_not_sqrt_k_narrower():
    (one,) = _report(_items(OUTCOMES, 1))["pairs"]
    report = _report(_items(OUTCOMES, 4))
    (four,) = report["pairs"]

    assert (four["items"], four["wins_a"], four["wins_b"]) == (160, 104, 56)
    assert four["win_rate_a"] == one["win_rate_a"] == 0.65
    # One sample: Wilson over 40 independent prompts. Four copies per prompt: the bootstrap over prompts
    # is about as wide, where Wilson over 160 "independent" items would be half as wide.
    naive = wilson_interval(104, 160)
    assert _width(four) == pytest.approx(_width(one), rel=0.2)
    assert _width(four) > 1.6 * (naive[1] - naive[0])
    # The test over prompts: four copies of an outcome weigh as much as one, not four times as much.
    assert four["p_value"] == pytest.approx(binomial_p_value(26, 40))
    assert four["p_value"] > 10 * binomial_p_value(104, 160)
    assert report["samples"] == {
        "per_prompt": 4, "unit": "item",
        "ci95": "percentile bootstrap over prompts (a prompt's samples resampled together)",
        "p_value": "exact sign-flip test over prompts of wins_a minus wins_b per prompt",
    }
    assert one["p_value"] == binomial_p_value(26, 40) and one["ci95"] == wilson_interval(26, 40)
    assert _report(_items(OUTCOMES, 1))["samples"] is None


def test_aggregating_takes_each_prompts_majority_over_its_samples():
    items = _items(OUTCOMES, 3, flip_sample=2)  # every third prompt: one sample of three disagrees
    report = _report(items, aggregate_samples=True)
    (pair,) = report["pairs"]

    assert (pair["items"], pair["wins_a"], pair["wins_b"], pair["ties"]) == (40, 26, 14, 0)
    assert pair["ci95"] == wilson_interval(26, 40) and pair["p_value"] == binomial_p_value(26, 40)
    assert pair["vote_splits"] == {"3-0": 120, "2-1": 0}  # agreement and splits stay per item
    assert report["samples"]["unit"] == "prompt" and report["settings"]["aggregate_samples"] is True
    assert report["summary"]["items"] == 120

    (per_item,) = _report(items)["pairs"]
    assert (per_item["items"], per_item["wins_a"], per_item["wins_b"]) == (120, 26 * 3 - 9 + 5, 14 * 3 - 5 + 9)


def test_with_two_samples_of_two_sides_a_tie_at_prompt_level():
    items = _items(["A", "A"], 2, flip_sample=1)  # prompt 0: A then B; prompt 1: A, A
    (pair,) = _report(items, aggregate_samples=True)["pairs"]
    assert (pair["wins_a"], pair["wins_b"], pair["ties"]) == (1, 0, 1)


def test_the_sign_flip_test_is_exact():
    # One item per prompt: the exact binomial test of the decisive ones.
    assert sign_flip_p_value(np.array([1] * 9 + [-1] * 3 + [0] * 5)) == pytest.approx(binomial_p_value(9, 12))
    # Mixed magnitudes against an enumeration of every sign choice.
    d = np.array([2, 1, 2, 2, -1, 1, 2, -2, 1, 1, 2])
    signs = np.array(np.meshgrid(*[[-1, 1]] * len(d))).reshape(len(d), -1).T
    sums = np.abs(signs @ d)
    assert sign_flip_p_value(d) == pytest.approx(np.mean(sums >= abs(d.sum())))
    assert sign_flip_p_value(np.array([0, 0])) is None
    # The FFT path agrees with the direct one.
    rng = np.random.default_rng(3)
    many = rng.choice([-2, -1, 1, 2, 2], size=6000)
    direct = sign_flip_p_value(many)
    from analysis import samples

    old, samples.DIRECT_CONVOLUTION = samples.DIRECT_CONVOLUTION, 0
    try:
        assert sign_flip_p_value(many) == pytest.approx(direct, rel=1e-6, abs=1e-12)
    finally:
        samples.DIRECT_CONVOLUTION = old


def test_the_command_aggregates_samples_when_asked(tmp_path, capsys):
    path = tmp_path / "votes.csv"
    path.write_text(votes_csv(_items(OUTCOMES, 2)))
    assert main(["report", str(path), "--bootstrap", "200", "--aggregate-samples"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"][0]["items"] == 40 and report["samples"]["unit"] == "prompt"


def test_a_sample_that_is_not_an_index_is_refused(tmp_path, capsys):
    items = _items(["A"], 1)
    items[0].extra["sample"] = ["x"] * RATERS
    path = tmp_path / "votes.csv"
    path.write_text(votes_csv(items))
    assert main(["report", str(path)]) == 2
    assert "line 2: sample 'x' is not a sample index (0, 1, ...)" in capsys.readouterr().err


def test_the_html_report_says_how_samples_were_treated():
    from analysis import render_html

    page = render_html(_report(_items(OUTCOMES, 2)))
    assert "Several samples per prompt (up to 2): each sample's item counts; the prompt is the unit" in page
    assert "Several samples per prompt" not in render_html(_report(_items(OUTCOMES, 1)))
