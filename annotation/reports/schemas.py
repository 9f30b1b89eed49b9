"""What the researchers' API answers with a study's report and its design file. Both are documents of
`analysis` (CONTRACT.md, "Analysis"; the README's design file section): the schemas declare the keys
the contract names, in its order, and let the report's further figures through as they are."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from juice.http import Number


class RankingOut(BaseModel):
    """A system's Bradley-Terry rating on the Elo scale (ratings average 1000), with its bootstrap interval."""

    model_config = ConfigDict(extra="allow")

    system: str
    rating: Number
    ci95: list[Number] | None


class ReportPairOut(BaseModel):
    """One pair on one question: wins, win rate with its Wilson interval and exact test, vote splits,
    agreement, reasons and categories; then the additions (net win rate, Holm's p-value, ...)."""

    model_config = ConfigDict(extra="allow")

    system_a: str
    system_b: str
    question: str
    items: int
    wins_a: int
    wins_b: int
    ties: int
    win_rate_a: Number | None
    ci95: list[Number] | None
    p_value: Number | None
    vote_splits: dict[str, int] | None
    agreement: dict[str, Any]
    reasons: dict[str, dict[str, Number | None]]
    by_category: dict[str, dict[str, Any]]


class ReportOut(BaseModel):
    """The study's report, as `python -m analysis report` computes it from the study's votes CSV, with the study's settings."""

    model_config = ConfigDict(extra="allow")

    pairs: list[ReportPairOut]
    ranking: dict[str, list[RankingOut]]
    summary: dict[str, Any]
    settings: dict[str, Any]
    position_bias: Any
    raters: list[dict[str, Any]]
    reasons_by_system: Any
    raters_summary: Any
    order_effects: Any
    planning: dict[str, Any]
    rater_model: Any
    samples: Any
    design: Any
    study: dict[str, Any]
    # Served from the last computation (annotation/reports/cache.py): when it was made, and whether the
    # study's votes, exclusions and settings are still those it was made from.
    computed_at: str | None = None
    up_to_date: bool | None = None


class ReportComputing(BaseModel):
    """The report is being computed in the background; ask again (`Retry-After` says when)."""

    status: Literal["computing"]


class DesignPairOut(BaseModel):
    system_a: str
    system_b: str
    items: int


class DesignOut(BaseModel):
    """The study's design file (`juice-design/1`), which `python -m analysis report --design` reads beside the votes CSV;
    options declared with a design name add their keys (annotation/options.py)."""

    model_config = ConfigDict(extra="allow")

    format: str
    study: str
    dynamic: bool
    alpha: Number
    ranking: bool
    rule: str
    rho: Number
    raters_per_item: int
    allow_tie: bool
    early_stop: bool
    questions: list[str]
    pairs: list[DesignPairOut]
    order: list[str]
