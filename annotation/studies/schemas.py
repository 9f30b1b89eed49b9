"""What a study is made of, as researchers ask for it: one schema behind the API, the page and the
command (StudySpec); and what the studies' API answers about one (StudyOut)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from annotation.models import QUESTIONS, REASON_KEY, Study, StudyPair
from annotation.rating.schemas import ReasonOut
from juice.http import DateTimeText, Number

Question = Literal["quality", "faithfulness"]

# A day of watching is a broken setting, not a careful study (the vote's own cap is the same).
MAX_WATCH_MS = 24 * 3600 * 1000
# The most samples per prompt a study compares (generation makes at most as many).
MAX_SAMPLES = 100
# `samples` as CONTRACT.md names it: as many samples as the systems have, with this report unit.
SAMPLE_MODES = {"matched": "prompt", "items": "item"}


def samples_valid(value: object) -> bool:
    """Whether `value` is a study's `samples`: a count from 1 to MAX_SAMPLES, or one of SAMPLE_MODES."""
    if isinstance(value, str):
        return value in SAMPLE_MODES
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SAMPLES


# Where raters are sent at the end: a web address, with `{code}` where the completion code goes.
HAND_OFF_URL = r"^https?://[^\s<>\"]+$"


class ReasonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Reason keys travel joined by ";" in the votes CSV, so they are plain identifiers.
    key: StrictStr = Field(pattern=f"^{REASON_KEY}$")
    label: StrictStr | None = None


class QualificationItemSpec(BaseModel):
    """A pair with a known right answer per question: `answers` names the better system of `pair`."""

    model_config = ConfigDict(extra="forbid")

    prompt: StrictStr
    pair: tuple[StrictStr, StrictStr]
    answers: dict[Question, StrictStr] = Field(min_length=1)


class QualificationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[QualificationItemSpec] = Field(min_length=1)
    mistakes_allowed: StrictInt = Field(0, ge=0)


class StudySpec(BaseModel):
    """A study to create (`POST /api/studies` takes these keys). Everything but `name`, `prompt_set` and
    `pairs` has a default; `matching` is the policy of generation.matching (aspect, resolution, fps,
    duration) and `invite` the accounts that may join without a worker id. `seed` fixes each rater's order
    of items: a copy of a study with the same seed hands a rater the items in the same order."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    prompt_set: StrictStr
    pairs: list[tuple[StrictStr, StrictStr]] = Field(min_length=1)
    raters: StrictInt = Field(5, ge=1, le=32767)
    questions: list[Question] = Field(default_factory=lambda: list(QUESTIONS), min_length=1)
    reasons: dict[Question, list[ReasonSpec]] = Field(default_factory=dict)
    allow_tie: StrictBool = False
    lease_seconds: StrictInt = Field(600, ge=10)
    completion_code: StrictStr | None = Field(None, max_length=64)
    instructions: StrictStr = ""
    matching: dict[StrictStr, StrictStr | StrictInt | StrictFloat | None] = Field(default_factory=dict)
    attention_items: StrictInt = Field(0, ge=0)
    attention_threshold: StrictFloat | None = Field(None, ge=0, le=1)
    invite: list[StrictStr] = Field(default_factory=list)
    # Crowd options (CONTRACT.md, "Study options"): the defaults keep a study as it was before them.
    consent: StrictStr = ""
    qualification: QualificationSpec | None = None
    min_watch_ms: StrictInt = Field(0, ge=0, le=MAX_WATCH_MS)
    completion_url: StrictStr = Field("", pattern=f"^$|{HAND_OFF_URL}", max_length=2000)
    screenout_url: StrictStr = Field("", pattern=f"^$|{HAND_OFF_URL}", max_length=2000)
    signed_links: StrictBool = False
    early_stop: StrictBool = False
    # Dynamic evaluation (analysis/sequential.py): a pair stops receiving items once its outcome is settled.
    dynamic: StrictBool = False
    dynamic_alpha: StrictFloat = Field(0.05, gt=0, le=0.5)
    dynamic_ranking: StrictBool = False
    seed: StrictInt | None = Field(None, ge=0, lt=2**31 - 1)
    # Several samples per prompt: K items per (pair, prompt), sample i of A against sample i of B;
    # "matched" or "items" take K from the videos (every sample the pairs' systems have).
    samples: StrictInt | StrictStr = 1
    # The report's unit: each sample's item, or the majority over a prompt's samples. Default:
    # "item", or "prompt" with samples "matched".
    sample_unit: Literal["item", "prompt"] | None = None

    @field_validator("samples", mode="before")
    @classmethod
    def _samples_known(cls, value: object) -> object:
        if not samples_valid(value):
            raise ValueError(f"give a number of samples per prompt from 1 to {MAX_SAMPLES}, or 'matched' or 'items', not {value!r}")
        return value

    @property
    def report_unit(self) -> str:
        """The report's unit the study records: sample_unit, else what `samples` implies."""
        return self.sample_unit or SAMPLE_MODES.get(self.samples, "item")

    @model_validator(mode="after")
    def _dynamic_one_sample(self) -> StudySpec:
        """Dynamic evaluation's test counts items as independent; several samples of one prompt are not."""
        if self.dynamic and self.samples != 1:
            raise ValueError("dynamic: dynamic evaluation needs one sample per prompt (samples 1): the samples of a prompt "
                             "are not independent, and its sequential test counts every item as one")
        return self

    @model_validator(mode="before")
    @classmethod
    def _alpha(cls, data: object) -> object:
        """CONTRACT.md names the option `alpha`: taken as `dynamic_alpha` (given both, `alpha` is refused as unknown)."""
        if isinstance(data, dict) and "alpha" in data and "dynamic_alpha" not in data:
            data = {**data, "dynamic_alpha": data["alpha"]}
            del data["alpha"]
        return data


class StudyProgressOut(BaseModel):
    """The study's ready items complete, in progress (some raters, not all) and waiting (none yet)."""

    total: int
    complete: int
    waiting: int
    attention: int
    in_progress: int
    not_ready: int
    votes: int
    raters: int


class VotesSavedOut(BaseModel):
    """Votes against the full design: spent so far, and saved by settled pairs and by items stopped early."""

    full: int
    spent: int
    saved_pairs: int
    saved_items: int
    saved: int
    saved_share: Number | None


class PairQuestionOut(BaseModel):
    """Where a pair of a dynamic study stands on one question (annotation/rating/dynamic.py)."""

    winner: str | None
    implied: str | None
    known_by: str | None
    items: int | None
    repeated_p: Number
    adjusted_p: Number
    level: Number
    interval: list[Number]


class PairStateOut(BaseModel):
    """A pair of a dynamic study: open or settled, why, and (once the monitor has looked) its figures."""

    pair: tuple[str, str]
    status: Literal[tuple(StudyPair.Status.values)]
    settled_at: DateTimeText | None
    reason: str
    questions: dict[str, PairQuestionOut] | None = None
    items_finished: int | None = None
    cap: int | None = None


class RaterOut(BaseModel):
    """A rater's figures: votes, median watch time, attention checks, share of decisive answers for the left video."""

    worker_id: str
    source: str
    votes: int
    median_watch_ms: Number | None
    attention_passed: int
    attention_failed: int
    attention_pass_rate: Number | None
    excluded: bool
    left_share: Number | None


class StudyOut(BaseModel):
    """A study: its options as set, its join link, who is invited, and how far it has come."""

    slug: str
    name: str
    status: Literal[tuple(Study.Status.values)]
    prompt_set: str
    pairs: list[tuple[str, str]]
    # The study's options, under the names the API has always answered with (`raters_per_item` for
    # StudySpec's `raters`, `dynamic_alpha` for `alpha`).
    raters_per_item: int
    questions: list[str]
    reasons: dict[str, list[ReasonOut]]
    allow_tie: bool
    lease_seconds: int
    completion_code: str
    instructions: str
    matching: dict[str, str | int | float | None]
    attention_items: int
    attention_threshold: Number | None
    consent: str
    qualification: QualificationSpec | None
    min_watch_ms: int
    completion_url: str
    screenout_url: str
    signed_links: bool
    early_stop: bool
    dynamic: bool
    dynamic_alpha: Number
    dynamic_ranking: bool
    seed: int
    samples: int
    sample_unit: Literal["item", "prompt"]
    # What the study has become.
    join_url: str
    invited: list[str]
    progress: StudyProgressOut
    votes_saved: VotesSavedOut | None
    pair_states: list[PairStateOut] | None
    raters: list[RaterOut]
