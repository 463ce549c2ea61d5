"""Requests and responses of the conversation routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.core.schemas import JobCreated, JobPublic


class ConversationCreated(JobCreated):
    conversation_id: int
    conversation_url: str


class ConversationJobPublic(JobPublic):
    """Reading a conversation: chunks read so far, suggestions made, quotes checked against the transcript."""

    conversation_id: int
    total: int = Field(description="Chunks of the transcript to read (one model call each).")
    processed: int = Field(description="Chunks read so far.")
    failed: int = Field(description="Chunks whose reply never validated (see errors).")
    suggestions: int = Field(description="Suggestions made (when done).")
    quotes_checked: int
    quotes_dropped: int = Field(description="Quotes the model gave that are not in the transcript: dropped.")
    created_at: datetime


class TurnPublic(BaseModel):
    index: int
    speaker: str
    text: str
    thread: str | None = None
    at: str | None = None


class ConversationPublic(BaseModel):
    """The stored conversation, its turns, and its summary: decisions, action items, new work, changes to backlog
    items (each with its suggestion id) and open questions; `decided_in_order` lists them in the order said."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    format: str
    filename: str
    created_at: datetime
    item_id: int | None = Field(None, description="The backlog item whose comments it is, if it is an item's.")
    problems: list[str]
    summary: dict[str, Any]
    turns: list[TurnPublic]
