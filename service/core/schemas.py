"""Response models more than one feature answers with: suggestions, backlog items, queued jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.core.enums import JobStatus, SuggestionKind, SuggestionStatus


class SuggestionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: SuggestionKind
    status: SuggestionStatus
    payload: dict[str, Any] | None
    input: dict[str, Any]
    model: str
    provider: str
    prompt_version: str
    usage: dict[str, Any]
    warnings: list[str] = Field(description="What the reviewer should know, e.g. instruction-like input removed.")
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    backlog_item_id: int | None
    evidence: dict[str, Any] | None = Field(
        None, description="What supports the suggestion, e.g. its likely duplicates with scores and verdicts."
    )


class BacklogItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    item_type: str
    labels: list[str]
    priority: str | None
    external_id: str | None
    story: dict[str, Any] | None
    source_suggestion_id: int | None
    merged_into_id: int | None
    evidence: dict[str, Any] | None = Field(None, description="Customer evidence: ticket ids, counts, quotes.")
    priority_score: float | None = None
    priority_rank: int | None = None
    priority_detail: dict[str, Any] | None = None
    priority_set_by: str | None = None
    priority_set_at: datetime | None = None
    story_points: int | None = None
    parent_id: int | None = Field(None, description="The item a split made this one a child of.")
    depends_on: list[int] | None = None
    created_at: datetime
    updated_at: datetime


class JobCreated(BaseModel):
    job_id: int
    status_url: str


class JobPublic(BaseModel):
    """What every background job's status shows: where it stands, its counts so far, and the time left."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: JobStatus
    total: int
    processed: int
    failed: int
    errors: list[str]
    started_at: datetime | None
    finished_at: datetime | None
    eta_s: float | None = Field(None, description="Seconds left at the pace so far; null until there is a pace.")
