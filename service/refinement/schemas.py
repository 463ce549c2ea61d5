"""Requests and responses of the refinement routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from pipelines.quality import Finding
from service.core.schemas import BacklogItemPublic, IdValue, JobPublic, SuggestionPublic


class QualityReport(BaseModel):
    """What is wrong with an item, criterion by criterion; empty when nothing is."""

    findings: list[Finding]


class RefineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[IdValue] | None = Field(None, max_length=500, description="Default: the whole backlog (<= 500).")


class RefineJobPublic(JobPublic):
    """A refinement run's progress: items refined so far, findings and suggestions made."""

    total: int = Field(description="Items to refine.")
    processed: int = Field(description="Items refined so far.")
    failed: int = Field(description="Items that could not be refined (see errors).")
    findings: int = Field(description="Quality findings on the items refined so far.")
    suggestions: int = Field(description="Rewrite, split and estimate suggestions made.")
    created_at: datetime


class QueuedSuggestion(SuggestionPublic):
    stale: bool = Field(False, description="The item changed since the suggestion was made: reject it, refine again.")


class QueueEntry(BaseModel):
    """One item of the refinement queue: the item, what is wrong with it, and what is suggested for it."""

    item: BacklogItemPublic
    findings: list[Finding]
    suggestions: list[QueuedSuggestion]
