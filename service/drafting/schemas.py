"""Requests of the drafting routes."""

from __future__ import annotations

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
