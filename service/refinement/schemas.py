"""Requests and responses of the refinement routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field

from pipelines.quality import CRITERIA, Criterion, Finding, Readiness
from service.core.schemas import BacklogItemPublic, IdValue, JobPublic, SuggestionPublic
from service.refinement.record import EstimateRecord


class ReadinessPublic(Readiness):
    """A project's Definition of Ready, with the criteria it does not check."""

    model_config = ConfigDict(extra="ignore")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def not_checked(self) -> list[Criterion]:
        return [c for c in CRITERIA if c not in self.criteria]  # type: ignore[misc]


class QualityReport(BaseModel):
    """What is wrong with an item, criterion by criterion; empty when nothing is."""

    findings: list[Finding]


class NoLabels(BaseModel):
    """No label stands out for the item: no suggestion was made."""

    labels: list[str] = Field(default_factory=list)
    why: str


class RefineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[IdValue] | None = Field(None, max_length=500, description="Default: the whole backlog (<= 500).")


class RefineJobPublic(JobPublic):
    """A refinement run's progress: items refined so far, findings and suggestions made."""

    total: int = Field(description="Items to refine.")
    processed: int = Field(description="Items refined so far.")
    failed: int = Field(description="Items that could not be refined (see errors).")
    findings: int = Field(description="Quality findings on the items refined so far.")
    suggestions: int = Field(description="Rewrite, split, estimate and labels suggestions made.")
    created_at: datetime


class QueuedSuggestion(SuggestionPublic):
    stale: bool = Field(False, description="The item changed since the suggestion was made: reject it, refine again.")
    thread_changed: bool = Field(
        False,
        description="A rewrite: the item's comments changed since it read them; asked for again, it is made again in "
        "its place with them.",
    )


class QueueEntry(BaseModel):
    """One item of the refinement queue: the item, what is wrong with it, and what is suggested for it."""

    item: BacklogItemPublic
    findings: list[Finding]
    suggestions: list[QueuedSuggestion]


class FitProgress(BaseModel):
    """How far a running fit of the team's points model is (written by the fit every 10 s)."""

    done: int = Field(description="Training steps done (batches of 16 items, over 2 passes).")
    steps: int
    eta_s: int | None = Field(description="Seconds left at the pace so far.")


class EstimateLearningPublic(BaseModel):
    """What the project's items with points taught its estimates: the team's own fine-tuned points model."""

    items_with_points: int
    min_items: int = Field(description="Items with points needed before the team's model is fitted.")
    fitted_on: int | None = Field(description="How many items with points the kept fit learned from; None: no fit.")
    fitted_at: datetime | None
    fitting: bool = Field(description="A fit is running (here or in another process); estimates stand without it.")
    fit_progress: FitProgress | None = Field(None, description="How far the running fit is, once it has said.")
    failed_on: int | None = Field(
        None, description="A fit on this many items failed in this process (not tried again until they change)."
    )
    refit_below: int | None = Field(description="Fitted again once the items with points fall below this count...")
    refit_from: int | None = Field(description="... or reach this one (a tenth more or fewer than `fitted_on`).")
    record: EstimateRecord = Field(description="How the project's reviewers decided its estimates so far.")
