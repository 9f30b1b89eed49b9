"""Votes CSVs written from a compact description, for the analysis tests."""

import csv
import io
import itertools
from dataclasses import dataclass, field

import numpy as np

HEADER = "study,item,prompt_id,prompt,category,system_a,system_b,question,rater,choice,left,reasons,watch_ms,created_at"


@dataclass
class Item:
    """One comparison item; votes[question] lists (choice, reasons) per rater r1, r2, ..."""

    item: str
    system_a: str
    system_b: str
    votes: dict[str, list[tuple[str, str]]]
    prompt_id: str = ""
    category: str = "animals"
    prompt: str = "a cat plays the piano"
    raters: list[str] = field(default_factory=list)
    # Optional columns (CONTRACT.md, "Additions"): column -> one value per rater, e.g. {"position": ["3", "1"]}.
    extra: dict[str, list[str]] = field(default_factory=dict)


def votes_rows(items: list[Item], study: str = "study-1") -> list[dict]:
    """One row per (rating, question). Rater k sees system_a on the left when k is odd."""
    rows = []
    for item in items:
        questions = list(item.votes)
        for k in range(len(item.votes[questions[0]])):
            rater = item.raters[k] if item.raters else f"r{k + 1}"
            for question in questions:
                choice, reasons = item.votes[question][k]
                rows.append(
                    {
                        "study": study,
                        "item": item.item,
                        "prompt_id": item.prompt_id or f"p-{item.item}",
                        "prompt": item.prompt,
                        "category": item.category,
                        "system_a": item.system_a,
                        "system_b": item.system_b,
                        "question": question,
                        "rater": rater,
                        "choice": choice,
                        "left": item.system_a if k % 2 == 0 else item.system_b,
                        "reasons": reasons,
                        "watch_ms": str(1000 * (k + 1)),
                        "created_at": f"2026-01-05T09:{k:02d}:00+00:00",
                        **{column: values[k] for column, values in item.extra.items()},
                    }
                )
    return rows


def votes_csv(items: list[Item], study: str = "study-1") -> str:
    """The votes CSV of the items: the contract's fourteen columns, then any optional ones the items carry."""
    rows = votes_rows(items, study)
    buffer = io.StringIO()
    columns = list(dict.fromkeys([*HEADER.split(","), *(column for row in rows for column in row)]))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def random_study(
    rng: np.random.Generator, systems: list[str], n_prompts: int, raters: int, questions: tuple[str, ...] = ("quality",), tie: float = 0.15
) -> list[Item]:
    """Every pair of `systems` on every prompt, systems of random strength, `raters` votes per item and question."""
    strength = dict(zip(systems, rng.normal(0, 0.8, len(systems)), strict=True))
    items = []
    for prompt in range(n_prompts):
        for a, b in itertools.combinations(systems, 2):
            p_a = (1 - tie) / (1 + np.exp(strength[b] - strength[a]))
            votes = {
                q: [(str(rng.choice([a, b, "tie"], p=[p_a, 1 - tie - p_a, tie])), "pixel_sharpness") for _ in range(raters)]
                for q in questions
            }
            items.append(Item(f"{prompt}-{a}-{b}", a, b, votes, prompt_id=f"p{prompt:03d}"))
    return items


def outcome(item: Item, question: str = "quality") -> str:
    """The item's majority choice (a system, or "tie" when the top counts are level), counted here independently."""
    choices = [choice for choice, _reasons in item.votes[question]]
    counts = {label: choices.count(label) for label in (item.system_a, item.system_b, "tie")}
    top = max(counts.values())
    leaders = [label for label, n in counts.items() if n == top]
    return leaders[0] if len(leaders) == 1 else "tie"


def same(choice: str, n: int, reasons: str = "pixel_sharpness") -> list[tuple[str, str]]:
    return [(choice, reasons)] * n


# The known-answer study of the end-to-end tests: alpha vs beta, 4 items, 5 raters, 2 questions.
#   quality:      items 1-3 to alpha (5-0, 4-1, 3-2), item 4 to beta (4-1)
#   faithfulness: items 1-2 to alpha (3-2), items 3-4 to beta (3-2)
# Reasons on quality: of alpha's 12 winning votes, 9 tick pixel_sharpness and 6 motion_smoothness;
# of beta's 4 winning votes, 1 ticks pixel_sharpness and 4 motion_smoothness.
PS, MS, BOTH = "pixel_sharpness", "motion_smoothness", "pixel_sharpness;motion_smoothness"
SA, TA = "spatial_alignment", "temporal_alignment"
KNOWN_ITEMS = [
    Item(
        "1",
        "alpha",
        "beta",
        {
            "quality": [("alpha", BOTH), ("alpha", BOTH), ("alpha", PS), ("alpha", PS), ("alpha", MS)],
            "faithfulness": [("alpha", SA), ("alpha", SA), ("alpha", TA), ("beta", SA), ("beta", SA)],
        },
        category="animals",
    ),
    Item(
        "2",
        "alpha",
        "beta",
        {
            "quality": [("alpha", BOTH), ("alpha", PS), ("alpha", PS), ("alpha", MS), ("beta", PS)],
            "faithfulness": [("alpha", SA), ("alpha", TA), ("alpha", TA), ("beta", SA), ("beta", SA)],
        },
        category="animals",
    ),
    Item(
        "3",
        "alpha",
        "beta",
        {
            "quality": [("alpha", PS), ("alpha", PS), ("alpha", MS), ("beta", MS), ("beta", MS)],
            "faithfulness": [("beta", SA), ("beta", SA), ("beta", TA), ("alpha", SA), ("alpha", SA)],
        },
        category="fantasy",
    ),
    Item(
        "4",
        "alpha",
        "beta",
        {
            "quality": [("beta", BOTH), ("beta", MS), ("beta", MS), ("beta", MS), ("alpha", PS)],
            "faithfulness": [("beta", SA), ("beta", TA), ("beta", TA), ("alpha", SA), ("alpha", SA)],
        },
        category="fantasy",
    ),
]
