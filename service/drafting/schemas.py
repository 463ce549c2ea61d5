"""Requests and responses of the drafting routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.drafting import MAX_CONTEXT_CHARS, MAX_TEXT_CHARS


class DraftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)] = Field(
        description="The raw idea, request or bug note."
    )
    context: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_CONTEXT_CHARS)] | None = Field(
        None, description="Optional product context: what the product is, who uses it."
    )
    stream: bool = Field(
        False,
        description="Answer with server-sent events (as `Accept: text/event-stream` does): each field of the story as "
        "the model writes it, then the stored suggestion.",
    )


class RegenerateRequest(BaseModel):
    """Draft again, sampled at temperature 0.7 (first drafts are greedy); leave both out to redraft from the same
    input."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)] | None = (
        Field(None, description="A revised idea text; default: the suggestion's own input.")
    )
    context: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_CONTEXT_CHARS)] | None = Field(
        None, description="Revised product context; default: the suggestion's own."
    )


class TeamExamplePublic(BaseModel):
    suggestion_id: int
    title: str
    edited_fields: list[str] = Field(description="What the reviewer changed before accepting.")
    accepted_at: datetime
    in_prompt: bool = Field(description="Whether it is one of the examples new drafts are shown.")


class DraftLearningPublic(BaseModel):
    """What drafting learned in this project."""

    edited_accepts: int = Field(description="Drafts accepted with edits since the last reset.")
    examples: list[TeamExamplePublic] = Field(description="The latest 20 of them, newest first.")
    learned_since: datetime | None = Field(description="The last reset; None: every edit counts.")
