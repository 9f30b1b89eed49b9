"""What a study is made of, as researchers ask for it: one schema behind the API, the page and the command."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from annotation.models import QUESTIONS, REASON_KEY

Question = Literal["quality", "faithfulness"]


class ReasonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Reason keys travel joined by ";" in the votes CSV, so they are plain identifiers.
    key: StrictStr = Field(pattern=f"^{REASON_KEY}$")
    label: StrictStr | None = None


class StudySpec(BaseModel):
    """A study to create (`POST /api/studies` takes these keys). Everything but `name`, `prompt_set` and
    `pairs` has a default; `matching` is the policy of generation.matching (aspect, resolution, fps,
    duration) and `invite` the accounts that may join without a worker id."""

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
