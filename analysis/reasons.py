"""Why systems win (the paper's Figure 6): the reasons ticked by the votes behind each win."""

import numpy as np
import pandas as pd


def reason_keys(reasons: pd.Series) -> tuple[list[str], np.ndarray]:
    """All reason keys, and for each category code of the `reasons` column which keys it ticks."""
    ticked = [{key.strip() for key in combo.split(";")} - {""} for combo in reasons.cat.categories]
    keys = sorted(set().union(*ticked))
    position = {key: i for i, key in enumerate(keys)}
    matrix = np.zeros((len(ticked), len(keys)))
    for row, combo in enumerate(ticked):
        matrix[row, [position[key] for key in combo]] = 1
    return keys, matrix


def reason_counts(group: np.ndarray, n_groups: int, combo: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group: how many votes ticked each reason (groups x keys), and how many votes there were."""
    n_combos = len(matrix)
    votes = np.bincount(group * n_combos + combo, minlength=n_groups * n_combos).reshape(n_groups, n_combos)
    return votes @ matrix, votes.sum(axis=1)
