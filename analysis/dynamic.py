"""A report under a study's design file: the design checked against the votes and, for a dynamic
study, each pair's sequential figures rebuilt from the votes.

The rebuild runs the live monitor's functions (analysis/sequential.py) on the votes CSV: per item
its votes in the pair's orientation, when its outcome became final (`item_finished`, with the
design's raters per item, ties and questions), then every pair's state (`settle_study`, with the
design's item counts as caps, alpha and ranking). So the report states what the platform decided
while the study ran, and figures valid under that design: repeated p-values, Holm-adjusted, and
repeated confidence intervals, valid at whatever look a pair stopped.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis import sequential
from analysis.design import Design
from analysis.outcomes import Tally
from analysis.votes import TIE, AnalysisError, item_index

NOTES = (
    "The study was dynamic: a pair stopped receiving items once the sequential test that `rule` describes settled it (family-wise alpha "
    "{alpha} over the pairs of each question). The `sequential` figures are valid under this design: the repeated p-value, "
    "its Holm adjustment across the pairs of the question, and the repeated confidence interval of system_a's win rate "
    "(at alpha / pairs), valid at whatever item a pair stopped. The fixed-sample figures (ci95, p_value, p_value_holm, "
    "net_ci95, detectable_win_rate, the ranking's intervals) assume a number of items fixed in advance and are not valid "
    "under this design. Point estimates (win rates, net win rates, ratings) may lean away from 50%, as a pair stopped "
    "when its lead was large."
)


def check_votes_match(design: Design, votes: pd.DataFrame, tally: Tally) -> None:
    """The votes are those of the design's study: its name, questions, pairs, item counts, raters and ties."""
    studies = sorted(str(s) for s in votes["study"].unique())
    if studies and studies != [design.study]:
        raise AnalysisError(f"design: study {design.study!r}, but the votes are of study {', '.join(map(repr, studies))}")
    if len(votes) and set(tally.questions) != set(design.questions):
        raise AnalysisError(f"design: questions {', '.join(design.questions)}, but the votes answer {', '.join(tally.questions)}")
    pair_items = _items_per_pair(votes, tally)
    for (a, b), items in zip(tally.pairs, pair_items, strict=True):
        pair = design.pair_of(a, b)
        if pair is None:
            listed = "; ".join(f"{p.system_a} vs {p.system_b}" for p in design.pairs)
            raise AnalysisError(f"design: the votes have pair {a} vs {b}, which the design's pairs ({listed}) do not list")
        if items > pair.items:
            raise AnalysisError(f"design: pair {a} vs {b} has {items} items in the votes but {pair.items} in the design's 'items'")
    if tally.raters_per_item > design.raters_per_item:
        raise AnalysisError(
            f"design: raters_per_item is {design.raters_per_item}, but an item of the votes has {tally.raters_per_item} votes on a question"
        )
    if not design.allow_tie and bool((votes["choice"] == TIE).any()):
        raise AnalysisError("design: allow_tie is false, but the votes have 'tie' choices")


def _items_per_pair(votes: pd.DataFrame, tally: Tally) -> np.ndarray:
    item, _first = item_index(votes)
    vote_pair = tally.pair[tally.vote_row]
    pair_of_item = np.zeros(item.max() + 1 if len(item) else 0, dtype=np.int64)
    pair_of_item[item] = vote_pair
    return np.bincount(pair_of_item, minlength=len(tally.pairs))


def pair_states(votes: pd.DataFrame, design: Design) -> dict[tuple[str, str], sequential.PairState]:
    """Every design pair's state (keyed by its (system_a, system_b)) from the votes, as the live monitor found it."""
    untimed = int(votes["created_at"].isna().sum())
    if untimed:
        raise AnalysisError(
            f"{untimed:,} votes have no created_at with a timezone (as a spreadsheet writes times back; the warning names the "
            "first line); the sequential figures of a dynamic design need the time of every vote: use the file as exported"
        )
    keys = {(p.system_a, p.system_b): (p.system_a, p.system_b) for p in design.pairs}
    keys.update({(p.system_b, p.system_a): (p.system_a, p.system_b) for p in design.pairs})
    times = votes["created_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    columns = [votes[c].astype(str).to_numpy() for c in ("item", "system_a", "system_b", "question", "choice")]
    by_item: dict[str, list] = {}
    pair_of: dict[str, tuple[str, str]] = {}
    for at, item, a, b, question, choice in zip(times, *columns, strict=True):
        key = pair_of[item] = keys[a, b]
        label = sequential.A_WINS if choice == key[0] else sequential.B_WINS if choice == key[1] else sequential.TIE
        by_item.setdefault(item, []).append((int(at), question, label))
    finished = [
        sequential.item_finished(
            item_votes, pair=pair_of[item], item=item, questions=design.questions, raters=design.raters_per_item,
            allow_tie=design.allow_tie,
        )
        for item, item_votes in by_item.items()
    ]
    caps = {(p.system_a, p.system_b): p.items for p in design.pairs}
    place = {item: n for n, item in enumerate(design.order)}
    # The looks in the order the live monitor took them (the design's `order`), the rest after by time.
    finished = [replace(f, at=(0, place[f.item]) if f.item in place else (1, f.at)) for f in finished if f is not None]
    return sequential.settle_study(
        finished, caps, design.questions, alpha=design.alpha, ranking=design.ranking,
        systems={key: key for key in caps}, burn_in=design.burn_in,
    )


def add_sequential_figures(figures: list[dict], states: dict[tuple[str, str], sequential.PairState]) -> None:
    """Each report pair figure gets `fixed_sample_valid: false` and its pair's `sequential` figures on its question."""
    by_systems = {frozenset(key): state for key, state in states.items()}
    for figure in figures:
        state = by_systems[frozenset((figure["system_a"], figure["system_b"]))]
        figure["fixed_sample_valid"] = False
        figure["sequential"] = sequential_figure(state, figure["question"], figure["system_a"])


def sequential_figure(state: sequential.PairState, question: str, system_a: str) -> dict:
    """One pair's sequential figures on one question; the interval is of `system_a`'s win rate."""
    settled = state.questions[question]
    design_a = state.pair[0]
    low, high = state.interval[question]
    if system_a != design_a:
        low, high = 1 - high, 1 - low
    return {
        "status": state.status,
        "settled": settled.settled,
        "direction": settled.winner(state.pair),
        "at_item": settled.items if settled.settled else None,
        "items_finished": state.items_finished,
        "cap": state.cap,
        "repeated_p": float(state.repeated_p[question]),
        "repeated_p_holm": float(state.adjusted_p[question]),
        "interval": [float(low), float(high)],
        # Early against late half of the pair's items up to its settlement (sequential.drift_p); flagged at DRIFT_LEVEL.
        "drift_p": state.drift.get(question),
        "drift_flagged": state.drift_flagged(question),
        "level": settled.level,
    }


def design_echo(design: Design, states: dict[tuple[str, str], sequential.PairState] | None) -> dict:
    """The report's `design`: the design file's settings and, for a dynamic design, every pair's state."""
    echo = {
        "study": design.study,
        "dynamic": design.dynamic,
        "rule": design.rule,
        "rho": design.rho,
        "share": sequential.SHARE,
        "alpha": design.alpha,
        "ranking": design.ranking,
        "burn_in": design.burn_in,
        "drift_level": sequential.DRIFT_LEVEL,
        "raters_per_item": design.raters_per_item,
        "allow_tie": design.allow_tie,
        "early_stop": design.early_stop,
        "questions": list(design.questions),
        "fixed_sample_valid": not design.dynamic,
        "notes": NOTES.format(alpha=design.alpha) if design.dynamic else None,
        "pairs": [{"system_a": p.system_a, "system_b": p.system_b, "items": p.items} for p in design.pairs],
    }
    if states is not None:
        echo["interval_level"] = design.alpha / len(design.pairs)
        for pair in echo["pairs"]:
            state = states[pair["system_a"], pair["system_b"]]
            pair.update(status=state.status, items_finished=state.items_finished)
    return echo


def apply_design(figures: list[dict], votes: pd.DataFrame, tally: Tally, design: Design) -> dict:
    """Check the votes against the design; for a dynamic one add the sequential figures to `figures`.
    Returns the report's `design`."""
    check_votes_match(design, votes, tally)
    states = pair_states(votes, design) if design.dynamic else None
    if states is not None:
        add_sequential_figures(figures, states)
    return design_echo(design, states)
