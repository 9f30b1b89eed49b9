"""A sensitivity analysis of the majority outcome: the Dawid-Skene model weighs raters by their estimated reliability.

Dawid and Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM
algorithm", Applied Statistics 28(1). Each task (an item on one question) has an unknown true
class with a prior probability; each rater answers l when the truth is k with a probability of
their own (a confusion matrix), whatever the task. Expectation-maximisation, started from the
majority, estimates both. A rater who answers at random gets a confusion matrix with equal rows,
so their votes stop moving the posterior; the votes of reliable raters decide instead.

The fit is crowd-kit's `DawidSkene` (Toloka's maintained implementation). Here the classes are
the pair's orientation (system_a better, system_b better, and no preference when the study
offered it), with one confusion matrix per rater over all pairs and questions. crowd-kit is
imported only when the analysis is asked for: it is not part of the default report.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.outcomes import TIE, A, B, Tally
from analysis.proportions import share

MAX_ITERATIONS = 100
TOLERANCE = 1e-5  # stop when the log-likelihood moves by less than this (crowd-kit's defaults)
CHANGED_LISTED = 10_000  # the report lists at most this many changed items (it counts them all)
NAME = "Dawid-Skene"


@dataclass(frozen=True)
class RaterModel:
    outcome: np.ndarray  # per (item, question) row of the tally: A, B or TIE under the model
    confidence: np.ndarray  # per row: the posterior probability of that outcome
    reliability: np.ndarray  # per rater code: the estimated probability that a vote is the true class
    n_classes: int
    iterations: int


def dawid_skene(
    task: np.ndarray, rater: np.ndarray, label: np.ndarray, n_tasks: int, n_raters: int, n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Fit the model to votes given as parallel arrays (task, rater, label), codes from 0.

    Returns (posterior (tasks, classes), confusion (raters, true class, answer), class prior,
    iterations). A class nobody voted for gets probability 0.
    """
    from crowdkit.aggregation import DawidSkene  # scikit-learn and pyarrow: only for this analysis

    with warnings.catch_warnings():
        # crowd-kit 1.4 still passes pandas keywords that pandas 3 deprecates; nothing for a reader to act on.
        warnings.filterwarnings("ignore", module=r"crowdkit\.")
        fitted = DawidSkene(n_iter=MAX_ITERATIONS, tol=TOLERANCE).fit(pd.DataFrame({"task": task, "worker": rater, "label": label}))
    classes = range(n_classes)
    posterior = fitted.probas_.reindex(index=range(n_tasks), columns=classes, fill_value=0.0).to_numpy(np.float64)
    # errors_ rows are (worker, answer), columns the true class: P(answer | true class).
    errors = fitted.errors_.reindex(columns=classes, fill_value=0.0)
    full = pd.MultiIndex.from_product([range(n_raters), classes], names=errors.index.names)
    confusion = errors.reindex(full, fill_value=0.0).to_numpy(np.float64).reshape(n_raters, n_classes, n_classes).transpose(0, 2, 1)
    prior = fitted.priors_.reindex(classes, fill_value=0.0).to_numpy(np.float64)
    return posterior, confusion, prior, len(fitted.loss_history_)


def fit_rater_model(votes: pd.DataFrame, tally: Tally, allow_tie: bool) -> RaterModel:
    """The model fitted to the votes of all pairs and questions; each row's outcome is its most probable class."""
    n_classes = 3 if allow_tie or (tally.vote_label == TIE).any() else 2
    rater = votes["rater"].cat.codes.to_numpy().astype(np.int64)
    n_raters = len(votes["rater"].cat.categories)
    posterior, confusion, prior, iterations = dawid_skene(tally.vote_row, rater, tally.vote_label, len(tally.counts), n_raters, n_classes)
    best = posterior.max(axis=1, initial=0.0)
    # Two classes equally probable (e.g. the same raters split evenly) are a tie, as with the majority.
    leaders = (posterior >= best[:, None] - 1e-12).sum(axis=1)
    outcome = np.where(leaders == 1, posterior.argmax(axis=1), TIE)
    reliability = (confusion[:, np.arange(n_classes), np.arange(n_classes)] * prior).sum(axis=1)
    return RaterModel(outcome=outcome, confidence=best, reliability=reliability, n_classes=n_classes, iterations=iterations)


def rater_model_figures(votes: pd.DataFrame, tally: Tally, model: RaterModel) -> dict:
    """The report's `rater_model`: the items whose outcome the model changes, and each pair's wins under it."""
    changed = np.flatnonzero(model.outcome != tally.outcome)
    _rows, first_vote = np.unique(tally.vote_row, return_index=True)
    return {
        "model": NAME,
        "classes": ["system_a", "system_b", "tie"][: model.n_classes],
        "iterations": model.iterations,
        "items_changed": len(changed),
        "changed_items": [_changed_item(votes, tally, model, row, first_vote[row]) for row in changed[:CHANGED_LISTED]],
        "pairs": _pairs_under_model(tally, model),
    }


def _changed_item(votes: pd.DataFrame, tally: Tally, model: RaterModel, row: int, vote: int) -> dict:
    system_a, system_b = tally.pairs[tally.pair[row]]
    names = {A: system_a, B: system_b, TIE: "tie"}
    return {
        "study": str(votes["study"].iat[vote]),
        "item": str(votes["item"].iat[vote]),
        "prompt_id": tally.prompts[tally.prompt[row]],
        "question": tally.questions[tally.question[row]],
        "system_a": system_a,
        "system_b": system_b,
        "votes": {system_a: int(tally.counts[row, A]), system_b: int(tally.counts[row, B]), "tie": int(tally.counts[row, TIE])},
        "majority": names[int(tally.outcome[row])],
        "model": names[int(model.outcome[row])],
        "posterior": float(model.confidence[row]),
    }


def _pairs_under_model(tally: Tally, model: RaterModel) -> list[dict]:
    n_questions = len(tally.questions)
    group = tally.pair * n_questions + tally.question
    n_groups = len(tally.pairs) * n_questions
    wins = np.bincount(group * 3 + model.outcome, minlength=n_groups * 3).reshape(n_groups, 3)
    changed = np.bincount(group, weights=model.outcome != tally.outcome, minlength=n_groups)
    return [
        {
            "system_a": tally.pairs[g // n_questions][0],
            "system_b": tally.pairs[g // n_questions][1],
            "question": tally.questions[g % n_questions],
            "items": int(wins[g].sum()),
            "wins_a": int(wins[g, A]),
            "wins_b": int(wins[g, B]),
            "ties": int(wins[g, TIE]),
            "win_rate_a": share(wins[g, A], wins[g, A] + wins[g, B]),
            "items_changed": int(changed[g]),
        }
        for g in range(n_groups)
        if wins[g].sum()
    ]
