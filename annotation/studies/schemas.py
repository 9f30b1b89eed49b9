"""What a study is made of, as researchers ask for it (StudySpec: one schema behind the API, the page and
the command), and what the studies' API answers about one (StudyOut).

`name`, `prompt_set` and `pairs` are written here; every other key is a study option, declared once in
annotation/options.py and turned into a field of `StudySpec` by `study_spec_model`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, create_model, field_validator, model_validator

from annotation.models import Study, StudyPair
from annotation.options import MAX_SAMPLES, OPTIONS, SAMPLE_MODES, samples_valid
from juice.http import DateTimeText, Number


def _aliases_described(schema: dict) -> None:
    """The document lists each option's other names too (`alpha`), as the same value."""
    properties = schema.get("properties", {})
    for declared in OPTIONS:
        for alias in declared.aliases:
            if declared.name in properties:
                properties[alias] = {**properties[declared.name], "description": f"Another name of `{declared.name}`"}


class StudyBase(BaseModel):
    """A study to create (`POST /api/studies` takes these keys). Everything but `name`, `prompt_set` and
    `pairs` has a default; `matching` is the policy of generation.matching (aspect, resolution, fps,
    duration) and `invite` the accounts that may join without a worker id. `seed` fixes each rater's order
    of items: a copy of a study with the same seed hands a rater the items in the same order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_aliases_described)

    name: StrictStr = Field(max_length=Study._meta.get_field("name").max_length, description="The study's name, unique on this site")
    prompt_set: StrictStr = Field(description="The prompt set whose prompts make the items")
    pairs: list[tuple[StrictStr, StrictStr]] = Field(min_length=1, description="The pairs of systems compared, by name")

    @field_validator("samples", mode="before", check_fields=False)
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
    def _dynamic_one_sample(self) -> StudyBase:
        """Dynamic evaluation's test counts items as independent; several samples of one prompt are not."""
        if self.dynamic and self.samples != 1:
            raise ValueError("dynamic: dynamic evaluation needs one sample per prompt (samples 1): the samples of a prompt "
                             "are not independent, and its sequential test counts every item as one")
        return self

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: object) -> object:
        """An option's other names (CONTRACT.md names `dynamic_alpha` `alpha`) are taken as its name; given
        both, the alias is refused as unknown."""
        if isinstance(data, dict):
            for declared in OPTIONS:
                for alias in declared.aliases:
                    if alias in data and declared.name not in data:
                        data = {**data, declared.name: data[alias]}
                        del data[alias]
        return data


_models: dict[tuple, type[StudyBase]] = {}


def study_spec_model() -> type[StudyBase]:
    """The study schema with a field per declared option (built once per set of declarations)."""
    key = tuple(OPTIONS)
    if key not in _models:
        fields: dict[str, Any] = {o.name: (o.python_type, o.field_info()) for o in OPTIONS}
        _models[key] = create_model("StudySpec", __base__=StudyBase, **fields)
    return _models[key]


StudySpec = study_spec_model()


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
    handed: int
    reports: int
    flagged: bool


class StudyOutBase(BaseModel):
    """A study: its options as set (under the names the API answers with), its join link, and how far it has come."""

    slug: str
    name: str
    status: Literal[tuple(Study.Status.values)]
    prompt_set: str
    pairs: list[tuple[str, str]]
    join_url: str
    progress: StudyProgressOut
    votes_saved: VotesSavedOut | None
    pair_states: list[PairStateOut] | None
    raters: list[RaterOut]


_outputs: dict[tuple, type[StudyOutBase]] = {}


def study_out_model() -> type[StudyOutBase]:
    """What the API answers about a study, with a field per declared option under its output name."""
    key = tuple(OPTIONS)
    if key not in _outputs:
        fields: dict[str, Any] = {o.output_name: (o.python_type, Field(description=o.help)) for o in OPTIONS}
        _outputs[key] = create_model("StudyOut", __base__=StudyOutBase, **fields)
    return _outputs[key]


StudyOut = study_out_model()
