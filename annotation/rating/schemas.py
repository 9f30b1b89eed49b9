"""The annotator API's schemas: its input (a vote's ballot, a problem report, an answer to a qualification
pair) and what it answers. The answers are built through the output schemas (juice.http.api_answer) and
the OpenAPI document is generated from both. Screen terms only (left/right): nothing here names a system,
a prompt id or a file.

A ballot's keys are the study's questions: the API validates it with those questions in the context
(`{"questions": [...]}`), so that a key the study does not ask is named as such before anything else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictInt, StrictStr, ValidationInfo, model_validator

from annotation.options import MAX_WATCH_MS
from juice.http import DateTimeText
from juice.refusals import echoed


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
                raise ValueError(f"unknown question: {echoed(', '.join(unknown))}")
        return data

    @property
    def answers(self) -> dict[str, Answer]:
        return self.__pydantic_extra__


class ProblemSpec(BaseModel):
    """A problem with the item, reported instead of a vote."""

    model_config = ConfigDict(extra="ignore")

    problem: Literal["video_does_not_play", "different_prompts", "other"]
    text: StrictStr = Field("", max_length=2000)


class QualificationAnswer(BaseModel):
    """One question's answer to a qualification pair, in screen terms (reasons, if sent, are not scored)."""

    model_config = ConfigDict(extra="ignore")

    choice: Literal["left", "right", "tie"]


class QualificationBody(BaseModel):
    """An answer to a qualification pair: its index and, per question, {"choice": "left"|"right"|"tie"}
    (reasons, if sent, are not scored)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, QualificationAnswer]

    index: StrictInt

    @property
    def choices(self) -> dict[str, str]:
        """question -> left | right | tie, as answered."""
        return {question: answer.choice for question, answer in self.__pydantic_extra__.items()}


# What the API answers.
class ReasonOut(BaseModel):
    key: str
    label: str


class QuestionOut(BaseModel):
    """A question the rater answers, with the reasons offered for a choice."""

    key: str
    reasons: list[ReasonOut]


class VideosOut(BaseModel):
    """The two videos' opaque addresses, as shown on the screen."""

    left: str
    right: str


class ProgressOut(BaseModel):
    done: int
    total: int | None


class AssignmentOut(BaseModel):
    """The rater's live assignment: the prompt, the two videos and the questions."""

    assignment: str
    prompt: str
    image: str | None
    videos: VideosOut
    questions: list[QuestionOut]
    progress: ProgressOut


class NoAssignmentOut(BaseModel):
    """Nothing to rate now, and why: finished (with the completion code), paused, or a step still to take."""

    assignment: None
    completion_code: str | None
    message: str
    progress: ProgressOut


class NextOut(RootModel[AssignmentOut | NoAssignmentOut]):
    """The rater's next assignment, or none and why."""


class VoteOut(BaseModel):
    """The vote is stored; with `?next=1`, `next` holds what `next` now answers (null when it could not be read)."""

    ok: bool
    next: NextOut | None = None


class ProblemOut(BaseModel):
    """The problem is stored and the item released; `next` holds what `next` now answers."""

    ok: bool
    next: NextOut | None


class ConsentOut(BaseModel):
    """The consent is recorded."""

    ok: bool
    consented_at: DateTimeText


class QualificationPairOut(BaseModel):
    index: int
    total: int
    prompt: str
    image: None
    videos: VideosOut
    questions: list[QuestionOut]


class QualificationOut(BaseModel):
    """The next qualification pair (or none), whether the rater is admitted, and a message once screened out."""

    admitted: bool
    screened_out: bool
    pair: QualificationPairOut | None
    message: str | None = None


class FeedbackOut(BaseModel):
    """Was the answer right, what was expected per question (left, right or tie), and the decision so far."""

    correct: bool
    expected: dict[str, str]
    admitted: bool
    screened_out: bool
