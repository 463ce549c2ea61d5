"""Requests and responses of the review routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.models import StoryDraftEdits
from pipelines.prioritization import InputEdits
from service.core.enums import SuggestionAction


class SuggestionEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: SuggestionAction
    actor: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime


class AcceptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edits: StoryDraftEdits | None = Field(None, description="Fields changed by the reviewer before accepting.")
    input_edits: InputEdits | None = Field(
        None, description="Priority suggestions: estimated inputs changed by the reviewer; the score is recomputed."
    )
    decided_by: str | None = Field(None, max_length=200, description="Who decides; ignored once accounts are on.")


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    decided_by: str | None = Field(None, max_length=200, description="Who decides; ignored once accounts are on.")
