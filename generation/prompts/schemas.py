"""The prompt sets' JSON API, as schemas: the upload it takes (a multipart form) and what it answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from juice.http import DateTimeText


class PromptSetUpload(BaseModel):
    """A prompt set to import, as multipart form fields: its name and its file (.csv, .jsonl, .txt, or a
    .zip of one with its images), read as CONTRACT.md's "Prompt sets" says."""

    name: str = Field(description="the prompt set's name, unique")
    file: bytes = Field(description="the prompt file")


class PromptSetRow(BaseModel):
    name: str
    count: int
    created_at: DateTimeText


class PromptSetsOut(BaseModel):
    """Every prompt set, by name."""

    prompt_sets: list[PromptSetRow]


class PromptSetCreated(BaseModel):
    """The imported prompt set: its name, its count and its prompt ids in file order."""

    name: str
    count: int
    ids: list[str]


class PromptOut(BaseModel):
    id: str
    text: str
    category: str
    has_image: bool


class PromptSetOut(BaseModel):
    """A prompt set with its prompts in file order."""

    name: str
    count: int
    source: str
    created_at: DateTimeText
    prompts: list[PromptOut]
