"""Requests and responses of the prioritization routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.prioritization import Framework
from service.core.enums import RankPlace
from service.core.schemas import IdValue, JobPublic


class StrategyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)] = Field(
        description="Product goals / OKRs, one per line."
    )


class StrategyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    set_by: str | None
    set_at: datetime


class PrioritizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    framework: Framework = "rice"
    item_ids: list[IdValue] | None = Field(None, max_length=50, description="Default: the whole backlog (at most 50).")


class PrioritizeJobPublic(JobPublic):
    """A prioritization job's progress; `ranked` (best first, one row per item with its suggestion id) when done."""

    framework: str
    total: int = Field(description="Items to estimate.")
    processed: int = Field(description="Items estimated so far.")
    failed: int = Field(description="Estimates that stayed invalid (failed suggestions).")
    ranked: list[dict[str, Any]] | None
    created_at: datetime


class PriorityUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class SprintPlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity_points: int = Field(ge=1, le=1000)


class RankRequest(BaseModel):
    """Put items, in the order given, before or after another item of the backlog's order, or at its top or bottom
    (placed by hand: a rerank by accepted scores keeps them there); `"to": "score"` gives them back to the scores."""

    model_config = ConfigDict(extra="forbid")

    item_ids: list[IdValue] = Field(min_length=1, max_length=500, description="The items to move, in this order.")
    before_id: IdValue | None = Field(None, description="Just above this item.")
    after_id: IdValue | None = Field(None, description="Just below this item.")
    to: RankPlace | None = Field(None, description="top, bottom, or score (no longer placed by hand).")
