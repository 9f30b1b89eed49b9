"""The annotator API's input: a vote's ballot, a problem report, an answer to a qualification pair.

A ballot's keys are the study's questions: the API validates it with those questions in the context
(`{"questions": [...]}`), so that a key the study does not ask is named as such before anything else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationInfo, model_validator

# A watch time above a day is a broken client, not a slow rater.
MAX_WATCH_MS = 24 * 3600 * 1000


class Answer(BaseModel):
    """One question's answer, in screen terms: {"choice": "left"|"right"|"tie", "reasons": [keys]}."""

    # Keys beyond these are ignored, as they always were: a client may send more than the contract's.
    model_config = ConfigDict(extra="ignore")

    choice: StrictStr
    reasons: list[StrictStr]


class Ballot(BaseModel):
    """A vote's body: one answer per question of the study (checked against the study by the vote),
    and how long the videos were watched."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Answer]

    watch_ms: StrictInt = Field(0, ge=0, le=MAX_WATCH_MS)

    @model_validator(mode="before")
    @classmethod
    def _questions_known(cls, data: object, info: ValidationInfo) -> object:
        questions = (info.context or {}).get("questions")
        if isinstance(data, dict) and questions is not None:
            unknown = sorted(set(data) - set(questions) - {"watch_ms"})
            if unknown:
                raise ValueError(f"unknown question: {', '.join(unknown)}")
        return data

    @property
    def answers(self) -> dict[str, Answer]:
        return self.__pydantic_extra__


class ProblemSpec(BaseModel):
    """A problem with the item, reported instead of a vote."""

    model_config = ConfigDict(extra="ignore")

    problem: Literal["video_does_not_play", "different_prompts", "other"]
    text: StrictStr = Field("", max_length=2000)


class QualificationBody(BaseModel):
    """An answer to a qualification pair: its index and, per question, {"choice": "left"|"right"|"tie"}
    (reasons, if sent, are not scored)."""

    model_config = ConfigDict(extra="allow")

    index: StrictInt
