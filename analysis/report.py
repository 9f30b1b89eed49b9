"""The report: every figure of CONTRACT.md's "Analysis" section as one JSON-ready dict.

The contract keys come first and exactly as specified; the extra keys (summary, settings,
position_bias, raters, reasons_by_system, then raters_summary, order_effects, planning,
rater_model, samples, design) come after. Per pair, the contract's keys come first, then the
additions (net_win_rate_a, net_ci95, p_value_holm, detectable_win_rate), and under a dynamic design
`fixed_sample_valid` and `sequential` (analysis/dynamic.py).
"""

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis import agreement
from analysis.design import check_design
from analysis.dynamic import apply_design
from analysis.net import net_win_rates
from analysis.outcomes import TIE, A, B, Tally, ordered_counts, split_name, standard_splits, tally_votes
from analysis.planning import ALPHA, POWER, detectable_win_rates
from analysis.proportions import binomial_p_value, holm, share, wilson_interval
from analysis.ranking import rank_systems
from analysis.rater_model import fit_rater_model, rater_model_figures
from analysis.raters import listed_raters, order_effects, position_bias, rater_table
from analysis.reasons import reason_counts, reason_keys
from analysis.samples import majority_over_samples, prompt_level_figures, samples_per_prompt, samples_summary
from analysis.votes import TIE as TIE_CHOICE
from analysis.votes import AnalysisError

# The JSON lists at most this many raters (the per-rater CSV has them all): with 500,000 raters
# the full list would be most of an 80 MB report.
RATERS_LISTED = 10_000


def build_report(
    votes: pd.DataFrame,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    exclude_raters: Iterable[str] = (),
    allow_tie: bool | None = None,
    rater_model: bool = False,
    raters_listed: int = RATERS_LISTED,
    design: dict | None = None,
    aggregate_samples: bool = False,
) -> dict:
    """Build the report from the frame `read_votes` returns.

    bootstrap: resamples of prompts behind the ranking's and the net win rates' intervals (0: no
    intervals). seed: their random seed. exclude_raters: rater ids whose votes are dropped first
    (e.g. failed attention checks); an id with no votes is an error. allow_tie: whether the study
    offered "no preference", which decides the categories of Gwet's AC1; None infers it from the
    votes (any tie vote means ties were allowed). rater_model: add the Dawid-Skene sensitivity
    analysis (`rater_model` key, and each rater's `model_reliability`). raters_listed: the most
    raters the `raters` list shows (those with the most votes); `raters_summary` covers them all.
    design: the study's design file (analysis/design.py), checked against the votes; it sets allow_tie
    when None; a dynamic one adds each pair's `sequential` figures (analysis/dynamic.py).
    aggregate_samples: with several samples per prompt, first take each (pair, prompt)'s majority over
    its samples (analysis/samples.py); else intervals and tests resample prompts (`samples` key).
    """
    if bootstrap < 0:
        raise AnalysisError(f"bootstrap must be 0 or more, not {bootstrap}")
    checked = None if design is None else check_design(design)
    votes, excluded = _without_raters(votes, exclude_raters)
    tally = tally_votes(votes)
    if allow_tie is None:
        allow_tie = checked.allow_tie if checked else bool((votes["choice"] == TIE_CHOICE).any())
    model = fit_rater_model(votes, tally, allow_tie) if rater_model else None
    raters, raters_summary = listed_raters(rater_table(votes, tally, model), raters_listed)
    per_prompt = samples_per_prompt(votes, tally)
    # The units of the win figures: the items, or with aggregation one per (pair, prompt, question).
    units = majority_over_samples(tally) if aggregate_samples and per_prompt > 1 else tally
    prompt_level = per_prompt > 1 and units is tally
    pairs = _pair_figures(votes, tally, units, 3 if allow_tie else 2, bootstrap, seed, prompt_level)
    design_figures = None if checked is None else apply_design(pairs, votes, tally, checked)

    return {
        "pairs": pairs,
        "ranking": _rankings(units, bootstrap, seed),
        "summary": _summary(votes, tally, allow_tie),
        # aggregate_samples only when asked, so the settings of a report without samples are as they were.
        "settings": {
            "bootstrap": bootstrap, "seed": seed, "excluded_raters": excluded, **({"aggregate_samples": True} if aggregate_samples else {})
        },
        "position_bias": position_bias(votes, tally),
        "raters": raters,
        "reasons_by_system": _reasons_by_system(votes, tally),
        "raters_summary": raters_summary,
        "order_effects": order_effects(votes, tally),
        "planning": {"alpha": ALPHA, "power": POWER},
        "rater_model": None if model is None else rater_model_figures(votes, tally, model),
        "samples": samples_summary(per_prompt, units is not tally),
        "design": design_figures,
    }


def _summary(votes: pd.DataFrame, tally: Tally, allow_tie: bool) -> dict:
    return {
        "studies": sorted(str(study) for study in votes["study"].unique()),
        "systems": tally.systems,
        "questions": tally.questions,
        "votes": len(votes),
        "items": tally.n_items,
        "raters": int(votes["rater"].nunique()),
        "raters_per_item": tally.raters_per_item,
        "allow_tie": allow_tie,
    }


def build_rater_table(
    votes: pd.DataFrame, *, exclude_raters: Iterable[str] = (), allow_tie: bool | None = None, rater_model: bool = False
) -> pd.DataFrame:
    """Every rater's figures (the `raters` entries of the report, all of them), one row per rater, by rater id."""
    votes, _excluded = _without_raters(votes, exclude_raters)
    tally = tally_votes(votes)
    if allow_tie is None:
        allow_tie = bool((votes["choice"] == TIE_CHOICE).any())
    return rater_table(votes, tally, fit_rater_model(votes, tally, allow_tie) if rater_model else None)


def _without_raters(votes: pd.DataFrame, exclude_raters: Iterable[str]) -> tuple[pd.DataFrame, list[str]]:
    excluded = sorted(set(exclude_raters))
    known = set(votes["rater"].unique())
    unknown = [r for r in excluded if r not in known]
    if unknown:
        raise AnalysisError(f"no votes from rater(s) to exclude: {', '.join(unknown)}")
    return (votes[~votes["rater"].isin(excluded)] if excluded else votes), excluded


def _groups(tally: Tally) -> tuple[np.ndarray, list[int], list[np.ndarray]]:
    """Each row's group (one per (pair, question)), the groups present, and each present group's rows."""
    n_questions = len(tally.questions)
    group = tally.pair * n_questions + tally.question
    n_groups = len(tally.pairs) * n_questions
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    present = [g for g in range(n_groups) if bounds[g] < bounds[g + 1]]  # a pair may not be asked every question
    return group, present, [order[bounds[g] : bounds[g + 1]] for g in present]


def _pair_figures(
    votes: pd.DataFrame, tally: Tally, units: Tally, n_categories: int, bootstrap: int, seed: int, prompt_level: bool
) -> list[dict]:
    """Per (pair, question): the win figures over `units` (the items, or their majorities over samples),
    intervals and tests over prompts when `prompt_level`, and splits, agreement and reasons over the items."""
    if len(tally.counts) == 0:
        return []
    n_questions, n_groups = len(tally.questions), len(tally.pairs) * len(tally.questions)
    group, present, item_rows = _groups(tally)
    unit_group, _present, rows = _groups(units)

    wins = np.bincount(unit_group * 3 + units.outcome, minlength=n_groups * 3).reshape(n_groups, 3)
    by_category = _by_category(units, unit_group, n_groups)
    splits = _vote_splits(tally, group, n_groups)
    reasons = _reasons_by_pair(votes, tally, group, n_groups)
    nets = net_win_rates(units, rows, bootstrap, seed)
    detectable = detectable_win_rates(wins[present, A] + wins[present, B])
    early_stop = _early_stop_rows(votes, tally)
    by_prompt = [prompt_level_figures(units, r, bootstrap, seed) if prompt_level else None for r in rows]

    figures = []
    for g, g_rows, (net, net_ci), smallest, over_prompts in zip(present, item_rows, nets, detectable, by_prompt, strict=True):
        system_a, system_b = tally.pairs[g // n_questions]
        counts = tally.counts[g_rows]
        figures.append(
            {
                "system_a": system_a,
                "system_b": system_b,
                "question": tally.questions[g % n_questions],
                "items": int(wins[g].sum()),
                **_win_figures(wins[g], over_prompts=over_prompts),
                "vote_splits": splits[g] if _several_raters(counts) else None,
                "agreement": _agreement(tally, counts, n_categories, early_stop[g_rows].any()),
                "reasons": {system_a: reasons[g][A], system_b: reasons[g][B]},
                "by_category": by_category[g],
                "net_win_rate_a": net,
                "net_ci95": net_ci,
                "p_value_holm": None,  # filled in below, across the pairs of each question
                "detectable_win_rate": smallest,
            }
        )
    _add_holm(figures)
    return figures


def _several_raters(counts: np.ndarray) -> bool:
    """Whether some item has two votes or more: with one rater per item, splits and unanimity mean nothing."""
    return bool((counts.sum(axis=1) >= 2).any())


def _agreement(tally: Tally, counts: np.ndarray, n_categories: int, early_stop: bool) -> dict:
    full_count = counts.sum(axis=1) == tally.raters_per_item
    figures = {
        "percent_unanimous": agreement.percent_unanimous(counts) if _several_raters(counts) else None,
        # With early stopping items have unequal counts by design: no full-count subset is representative.
        "fleiss_kappa": None if early_stop else agreement.fleiss_kappa(counts[full_count]),
        "krippendorff_alpha": agreement.krippendorff_alpha(counts),
        "gwet_ac1": agreement.gwet_ac1(counts, n_categories),
    }
    if early_stop:
        figures["early_stop"] = True
    return figures


def _early_stop_rows(votes: pd.DataFrame, tally: Tally) -> np.ndarray:
    """Per (item, question) row, whether its item stopped early (the optional `early_stop` column)."""
    stopped = np.zeros(len(tally.counts), dtype=bool)
    if "early_stop" in votes:
        stopped[tally.vote_row[votes["early_stop"].to_numpy(dtype=bool)]] = True
    return stopped


def _add_holm(figures: list[dict]) -> None:
    for question in dict.fromkeys(f["question"] for f in figures):
        family = [f for f in figures if f["question"] == question]
        for f, adjusted in zip(family, holm([f["p_value"] for f in family]), strict=True):
            f["p_value_holm"] = adjusted


def _by_category(tally: Tally, group: np.ndarray, n_groups: int) -> list[dict]:
    n = len(tally.categories)
    counts = np.bincount((group * n + tally.category) * 3 + tally.outcome, minlength=n_groups * n * 3).reshape(n_groups, n, 3)
    return [
        {
            tally.categories[c]: {"items": int(counts[g, c].sum()), **_win_figures(counts[g, c], brief=True)}
            for c in np.flatnonzero(counts[g].sum(axis=1))
        }
        for g in range(n_groups)
    ]


def _vote_splits(tally: Tally, group: np.ndarray, n_groups: int) -> list[dict]:
    ordered = ordered_counts(tally.counts)
    shapes, shape_of_row = np.unique(ordered, axis=0, return_inverse=True)
    splits = np.bincount(group * len(shapes) + shape_of_row.ravel(), minlength=n_groups * len(shapes)).reshape(n_groups, -1)
    names = [split_name(shape) for shape in shapes]
    order = sorted(range(len(shapes)), key=lambda s: _split_order(names[s]))
    standard = standard_splits(tally.raters_per_item)
    result = []
    for g in range(n_groups):
        vote_splits = dict.fromkeys(standard, 0)
        vote_splits.update({names[s]: int(splits[g, s]) for s in order if splits[g, s]})
        result.append(vote_splits)
    return result


def _win_figures(wins: np.ndarray, brief: bool = False, over_prompts: tuple | None = None) -> dict:
    """wins: items won by A, won by B, tied. over_prompts: the interval and p-value over prompts
    (several samples per prompt), instead of Wilson's and the binomial test's over items."""
    wins_a, wins_b, ties = (int(n) for n in wins)
    figures = {"wins_a": wins_a, "wins_b": wins_b, "ties": ties, "win_rate_a": share(wins_a, wins_a + wins_b)}
    if not brief:
        ci95, p_value = over_prompts or (wilson_interval(wins_a, wins_a + wins_b), binomial_p_value(wins_a, wins_a + wins_b))
        figures["ci95"], figures["p_value"] = ci95, p_value
    return figures


def _split_order(name: str) -> tuple:
    # Largest majority first, then the splits of items with more votes.
    parts = [int(n) for n in name.split("-")]
    return (-sum(parts), [-n for n in parts])


def _winning_votes(tally: Tally) -> np.ndarray:
    """The votes for the system that won their item."""
    return (tally.vote_label == tally.outcome[tally.vote_row]) & (tally.vote_label != TIE)


def _reasons_by_pair(votes: pd.DataFrame, tally: Tally, group: np.ndarray, n_groups: int) -> list[list[dict]]:
    """reasons[group][side][key]: among the votes for `side` on the items it won, the share ticking `key`."""
    keys, matrix = reason_keys(votes["reasons"])
    combo = votes["reasons"].cat.codes.to_numpy()
    winning = _winning_votes(tally)
    vote_group = group[tally.vote_row]
    ticked, total = reason_counts((vote_group * 2 + tally.vote_label)[winning], n_groups * 2, combo[winning], matrix)
    asked = _keys_per_question(votes, tally, matrix)
    return [
        [{keys[k]: share(ticked[g * 2 + side, k], total[g * 2 + side]) for k in asked[g % len(tally.questions)]} for side in (A, B)]
        for g in range(n_groups)
    ]


def _reasons_by_system(votes: pd.DataFrame, tally: Tally) -> dict:
    """Per question and system, over all its pairs: among its votes on items it won, the share ticking each reason."""
    keys, matrix = reason_keys(votes["reasons"])
    combo = votes["reasons"].cat.codes.to_numpy()
    winning = _winning_votes(tally)
    n_systems = len(tally.systems)
    winner = tally.vote_system(votes, "choice")
    vote_question = tally.question[tally.vote_row]
    n_groups = len(tally.questions) * n_systems
    ticked, total = reason_counts((vote_question * n_systems + winner)[winning], n_groups, combo[winning], matrix)
    asked = _keys_per_question(votes, tally, matrix)
    return {
        question: {
            system: {keys[k]: share(ticked[q * n_systems + s, k], total[q * n_systems + s]) for k in asked[q]}
            for s, system in enumerate(tally.systems)
        }
        for q, question in enumerate(tally.questions)
    }


def _keys_per_question(votes: pd.DataFrame, tally: Tally, matrix: np.ndarray) -> list[np.ndarray]:
    """The reason keys ticked at least once on each question, so a question lists only its own reasons."""
    ticked, _total = reason_counts(tally.question[tally.vote_row], len(tally.questions), votes["reasons"].cat.codes.to_numpy(), matrix)
    return [np.flatnonzero(row) for row in ticked]


def _rankings(tally: Tally, bootstrap: int, seed: int) -> dict:
    # A win is one point to the winner; a tie half a point to each.
    points = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])[tally.outcome]
    pair_systems = np.array([[tally.systems.index(a), tally.systems.index(b)] for a, b in tally.pairs]).reshape(-1, 2)
    rankings = {}
    for q, question in enumerate(tally.questions):
        rows = tally.question == q
        # Only the pairs, systems and prompts of this question; with the same prompts on every
        # question, the same seed draws the same resamples for each.
        pairs, pair = np.unique(tally.pair[rows], return_inverse=True)
        systems, local_systems = np.unique(pair_systems[pairs], return_inverse=True)
        prompts, prompt = np.unique(tally.prompt[rows], return_inverse=True)
        prompt_pair_wins = np.zeros((len(prompts), len(pairs), 2))
        np.add.at(prompt_pair_wins, (prompt, pair), points[rows])
        ratings, intervals = rank_systems(len(systems), local_systems.reshape(-1, 2), prompt_pair_wins, bootstrap, seed)
        entries = [
            {
                "system": tally.systems[s],
                "rating": float(ratings[i]),
                "ci95": None if intervals is None else [float(x) for x in intervals[i]],
            }
            for i, s in enumerate(systems)
        ]
        rankings[question] = sorted(entries, key=lambda entry: -entry["rating"])
    return rankings


def report_rows(report: dict) -> list[dict]:
    """The report flattened for CSV: one row per (pair, question).

    Splits become `split_<key>` columns (none with one rater per item), agreement coefficients their own columns, and reason
    shares `reasons_a_<key>` / `reasons_b_<key>` (for system_a / system_b) so that columns mean
    the same on every row. Rows of different questions may have different reason columns. Under a
    dynamic design, `fixed_sample_valid` and the sequential figures as `sequential_<key>` columns
    (the interval as `sequential_interval_low` / `_high`) come last.
    """
    rows = []
    for pair in report["pairs"]:
        ci = pair["ci95"] or [None, None]
        net_ci = pair["net_ci95"] or [None, None]
        row = {
            "system_a": pair["system_a"],
            "system_b": pair["system_b"],
            "question": pair["question"],
            "items": pair["items"],
            "wins_a": pair["wins_a"],
            "wins_b": pair["wins_b"],
            "ties": pair["ties"],
            "win_rate_a": pair["win_rate_a"],
            "ci95_low": ci[0],
            "ci95_high": ci[1],
            "p_value": pair["p_value"],
            "p_value_holm": pair["p_value_holm"],
            "net_win_rate_a": pair["net_win_rate_a"],
            "net_ci95_low": net_ci[0],
            "net_ci95_high": net_ci[1],
            "detectable_win_rate": pair["detectable_win_rate"],
            **{f"split_{key}": n for key, n in (pair["vote_splits"] or {}).items()},
            **pair["agreement"],
        }
        for side, system in (("a", pair["system_a"]), ("b", pair["system_b"])):
            row.update({f"reasons_{side}_{key}": value for key, value in pair["reasons"][system].items()})
        if "sequential" in pair:
            row.update(_sequential_columns(pair))
        rows.append(row)
    return rows


def _sequential_columns(pair: dict) -> dict:
    """A dynamic study's figures of the pair (analysis/dynamic.py) as `sequential_*` columns."""
    figures = dict(pair["sequential"])
    low, high = figures.pop("interval")
    columns = {"fixed_sample_valid": pair["fixed_sample_valid"]}
    columns.update({f"sequential_{key}": value for key, value in figures.items()})
    return {**columns, "sequential_interval_low": low, "sequential_interval_high": high}
