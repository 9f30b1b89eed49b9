"""The design file: how a study was run, beside its votes CSV (`juice-design/1`, README "Reports").

A JSON document the platform exports for every study: whether it was dynamic (a pair stopped
receiving items once the sequential test of analysis/sequential.py settled it), that test's
alpha and rule, and what the test needs to be run again from the votes: raters per item, whether
ties were allowed, the questions and each pair's item count (its cap). The platform writes it with
`design_document`; `check_design` validates one read back, naming the field at fault.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO

from analysis import sequential
from analysis.votes import AnalysisError

FORMAT = "juice-design/1"
FIELDS = (
    "format", "study", "dynamic", "alpha", "ranking", "rule", "rho", "raters_per_item", "allow_tie", "early_stop", "questions", "pairs",
)


@dataclass(frozen=True)
class DesignPair:
    system_a: str
    system_b: str
    items: int  # the pair's items in the export (not attention, not dropped): the most it can receive


@dataclass(frozen=True)
class Design:
    study: str
    dynamic: bool
    alpha: float
    ranking: bool
    rule: str
    rho: float
    raters_per_item: int
    allow_tie: bool
    early_stop: bool
    questions: tuple[str, ...]
    pairs: tuple[DesignPair, ...]
    # The items (the votes CSV's `item`) in the order the live monitor first found them finished:
    # the order of the looks. Optional; without it, looks go by finish time and item.
    order: tuple[str, ...] = ()
    # The share of a pair's items that had to finish before it could settle (optional; 0 in files without it).
    burn_in: float = 0.0

    def pair_of(self, system_a: str, system_b: str) -> DesignPair | None:
        """The design's pair of these two systems, in either order."""
        for pair in self.pairs:
            if {pair.system_a, pair.system_b} == {system_a, system_b}:
                return pair
        return None


def design_document(*, study: str, dynamic: bool, alpha: float, ranking: bool, raters_per_item: int, allow_tie: bool,
                    early_stop: bool, questions: Sequence[str], pairs: Iterable[tuple[str, str, int]],
                    order: Sequence[str] = (), **settings: object) -> dict:
    """The design file of a study, as JSON-ready data: `pairs` holds (system_a, system_b, items);
    `order` the items in the order the live monitor found them finished; `settings`, more of the study's
    settings, written as given (readers skip the keys they do not know)."""
    return {
        "format": FORMAT,
        "study": study,
        "dynamic": dynamic,
        "alpha": alpha,
        "ranking": ranking,
        "rule": sequential.DESCRIPTION,
        "rho": sequential.RHO,
        "share": sequential.SHARE,
        "raters_per_item": raters_per_item,
        "allow_tie": allow_tie,
        "early_stop": early_stop,
        "questions": list(questions),
        "pairs": [{"system_a": a, "system_b": b, "items": items} for a, b, items in pairs],
        "order": [str(item) for item in order],
        **settings,
    }


def read_design(source: str | os.PathLike | IO[str]) -> dict:
    """A design file's JSON from a path or an open file (checked by `check_design`)."""
    name = os.fspath(source) if isinstance(source, str | os.PathLike) else "the design file"
    try:
        if isinstance(source, str | os.PathLike):
            with open(source, encoding="utf-8") as f:
                return json.load(f)
        return json.load(source)
    except OSError as error:
        raise AnalysisError(f"cannot read the design file {name}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AnalysisError(f"design file {name}: not JSON ({error})") from None


def check_design(document: object) -> Design:
    """The design file validated; an AnalysisError names the first field at fault."""
    if not isinstance(document, dict):
        raise AnalysisError("design: the file must hold one JSON object")
    missing = [name for name in FIELDS if name not in document]
    if missing:
        raise AnalysisError(f"design: missing field(s) {', '.join(missing)}")
    if document["format"] != FORMAT:
        raise AnalysisError(f"design: field 'format' is {document['format']!r}; this analysis reads {FORMAT!r}")
    for name in ("dynamic", "ranking", "allow_tie", "early_stop"):
        _expect(document, name, isinstance(document[name], bool), "true or false")
    _expect(document, "study", _text(document["study"]), "a non-empty text")
    _expect(document, "rule", isinstance(document["rule"], str), "a text")
    alpha = document["alpha"]
    _expect(document, "alpha", _number(alpha) and 0 < alpha <= 0.5, "a number above 0 and at most 0.5")
    _expect(document, "rho", _number(document["rho"]), "a number")
    if document["dynamic"] and document["rho"] != sequential.RHO:
        raise AnalysisError(f"design: field 'rho' is {document['rho']!r}; this analysis spends alpha with rho {sequential.RHO} only")
    # `share` (the share of alpha the looks before a pair's last item may spend) came with issue 29; before, all of it (1).
    share = document.get("share", 1.0)
    _expect(document, "share", _number(share), "a number")
    if document["dynamic"] and share != sequential.SHARE:
        raise AnalysisError(f"design: field 'share' is {share!r}; this analysis spends a share {sequential.SHARE} of alpha "
                            "before a pair's last item only")
    raters = document["raters_per_item"]
    _expect(document, "raters_per_item", isinstance(raters, int) and not isinstance(raters, bool) and raters >= 1, "a whole number from 1")
    questions = document["questions"]
    _expect(document, "questions", isinstance(questions, list) and questions and all(_text(q) for q in questions)
            and len(set(questions)) == len(questions), "a list of distinct question names")
    return Design(
        study=document["study"], dynamic=document["dynamic"], alpha=float(alpha), ranking=document["ranking"], rule=document["rule"],
        rho=float(document["rho"]), raters_per_item=raters, allow_tie=document["allow_tie"], early_stop=document["early_stop"],
        questions=tuple(questions), pairs=_checked_pairs(document["pairs"]), order=_checked_order(document.get("order", [])),
        burn_in=_checked_burn_in(document.get("burn_in", 0.0)),
    )


def _checked_burn_in(value: object) -> float:
    if not (_number(value) and 0 <= value < 1):
        raise AnalysisError(f"design: field 'burn_in' must be a number from 0 and below 1, not {value!r}")
    return float(value)


def _checked_order(order: object) -> tuple[str, ...]:
    if not isinstance(order, list) or not all(isinstance(item, str) and item for item in order) or len(set(order)) != len(order):
        raise AnalysisError("design: field 'order' must be a list of distinct item ids (the votes CSV's item column)")
    return tuple(order)


def _checked_pairs(pairs: object) -> tuple[DesignPair, ...]:
    if not isinstance(pairs, list) or not pairs:
        raise AnalysisError("design: field 'pairs' must be a non-empty list of {\"system_a\", \"system_b\", \"items\"}")
    checked, seen = [], set()
    for index, pair in enumerate(pairs):
        where = f"design: pairs[{index}]"
        if not isinstance(pair, dict) or not {"system_a", "system_b", "items"} <= set(pair):
            raise AnalysisError(f"{where} must be an object with system_a, system_b and items")
        a, b, items = pair["system_a"], pair["system_b"], pair["items"]
        if not (_text(a) and _text(b)) or a == b:
            raise AnalysisError(f"{where}: system_a and system_b must be two different system names")
        if not isinstance(items, int) or isinstance(items, bool) or items < 0:
            raise AnalysisError(f"{where}: items must be a whole number from 0, not {items!r}")
        if frozenset((a, b)) in seen:
            raise AnalysisError(f"{where}: {a} vs {b} is listed twice")
        seen.add(frozenset((a, b)))
        checked.append(DesignPair(a, b, items))
    return tuple(checked)


def _expect(document: dict, name: str, ok: object, what: str) -> None:
    if not ok:
        raise AnalysisError(f"design: field {name!r} must be {what}, not {document[name]!r}")


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
