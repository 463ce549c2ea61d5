"""Requests and responses of the duplicates routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.drafting import MAX_TEXT_CHARS
from pipelines.duplicates import StandOut, Verdict


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
    probability: float = Field(
        ge=0, le=1, description="That it is the same report: the second stage, after this project's decisions."
    )
    stand_out: StandOut = Field(description="How far its score stands out of the other candidates' (z and gap).")
    closed: bool = Field(False, description="A backlog item done or cancelled in its tracker (history, not work).")


class DuplicateLearningPublic(BaseModel):
    """What the project's merge decisions taught the duplicate verdict."""

    measured_on: str = Field(description="Where the starting calibration was fitted.")
    dev_precision: float | None
    dev_recall: float | None
    duplicate_probability: float = Field(description="A candidate at or above this probability is a `duplicate`.")
    decisions: int = Field(description="Merge decisions learned from (accepted and rejected, since the last reset).")
    accepted_merges: int
    rejected_merges: int
    decision_slope: float = Field(description="Platt scaling fitted to the decisions (1 and 0: nothing learned).")
    decision_offset: float
    learned_since: datetime | None = Field(description="The last reset; None: every decision counts.")
    decided_still_proposed: int = Field(description="Of the decided merges, how many would be proposed now.")
    warning: str | None = Field(
        None, description="Set when the decisions silenced the detector (none of them would be proposed now)."
    )
