"""What the annotator API answers (CONTRACT.md), as schemas: the answers are built through them
(juice.http.api_answer) and the OpenAPI document is generated from them. Screen terms only
(left/right): nothing here names a system, a prompt id or a file."""

from __future__ import annotations

from pydantic import BaseModel, RootModel

from juice.http import DateTimeText


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
