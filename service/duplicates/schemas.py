"""Requests and responses of the duplicates routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.drafting import MAX_TEXT_CHARS
from pipelines.duplicates import Verdict


class DuplicateSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)] = Field(
        description="The report or idea. Without `title`, its first line is the title and the rest the body."
    )
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = Field(
        None, description="The title, when `text` is only the body."
    )
    k: int = Field(10, ge=1, le=100, description="How many candidates to return.")


class DuplicateCandidatePublic(BaseModel):
    item_id: int = Field(description="The backlog item id, or the suggestion id when kind is 'suggestion'.")
    kind: Literal["backlog_item", "suggestion"]
    title: str
    score: float = Field(ge=0, le=1)
    verdict: Verdict
