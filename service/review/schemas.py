"""Requests and responses of the review routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.models import StoryDraftEdits
from pipelines.prioritization import InputEdits
from service.core.enums import SuggestionAction
from service.core.schemas import Decider, IdValue, SuggestionPublic

MAX_DECIDED_AT_ONCE = 200
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


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
    points: int | None = Field(
        None, ge=0, le=1000, description="Estimate suggestions: the story points the reviewer settled on instead."
    )
    decided_by: Decider = None


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = Field(
        description="Who is to decide it; null: no one (anyone may)."
    )


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
    decided_by: Decider = None


class DecideManyRequest(BaseModel):
    """Several pending suggestions decided alike: accepted as they are, or rejected for one reason."""

    model_config = ConfigDict(extra="forbid")

    ids: list[IdValue] = Field(min_length=1, max_length=MAX_DECIDED_AT_ONCE, description="Suggestion ids.")
    decided_by: Decider = None


class RejectManyRequest(DecideManyRequest):
    reason: Reason


class Refused(BaseModel):
    """A suggestion of a bulk decision that was not decided, and why (as its own route would have answered)."""

    id: int
    status_code: int
    detail: str


class DecidedMany(BaseModel):
    decided: list[SuggestionPublic] = Field(description="The suggestions decided, in the order asked for.")
    refused: list[Refused] = Field(description="Those left as they were: already decided, unknown, stale, ...")


class ReasonCount(BaseModel):
    reason: str = Field(description="As reasons are counted: one line, lower case, numbers as #.")
    count: int


class WeekInsight(BaseModel):
    """The suggestions of a kind made in one week (from `week`, a Monday) and decided since: is the share accepted
    rising as the team's edits and decisions teach the prompts?"""

    week: date
    accepted: int
    rejected: int
    acceptance_rate: float | None


class KindInsight(BaseModel):
    """How reviewers answered one kind of suggestion."""

    kind: str
    made: int
    pending: int
    failed: int = Field(description="The model's output stayed invalid after its re-asks: nothing to decide.")
    accepted: int
    accepted_with_edits: int = Field(description="Of the accepted, those a reviewer changed before accepting.")
    rejected: int
    undone: int = Field(description="Decisions undone (pending again), counted once per undo.")
    acceptance_rate: float | None = Field(description="accepted / (accepted + rejected); null before any decision.")
    edited_share: float | None = Field(description="accepted_with_edits / accepted; null before any acceptance.")
    median_hours_to_decision: float | None = Field(description="From made to decided, over the decided ones.")
    rejection_reasons: list[ReasonCount] = Field(description="The reasons most given, most first (at most 5).")
    weeks: list[WeekInsight] = Field(description="By the week they were made, the latest 12 with decisions.")


class SourceInsight(BaseModel):
    """What one model and prompt version made of one kind, and how often a reviewer accepted it."""

    kind: str
    provider: str
    model: str
    prompt_version: str
    made: int
    failed: int
    decided: int
    acceptance_rate: float | None


class ReviewerInsight(BaseModel):
    name: str | None = Field(description="Who decided; null for decisions made with no name (accounts off).")
    accepted: int
    rejected: int


class InsightsPublic(BaseModel):
    """How the suggestions made since `since` (all, when null) were reviewed."""

    since: datetime | None
    days: int | None
    kinds: list[KindInsight]
    sources: list[SourceInsight]
    reviewers: list[ReviewerInsight]


class ActivityPublic(BaseModel):
    """One thing a person did: a decision or assignment on a suggestion, a comment on one, or an edit of an item."""

    at: datetime
    cursor: str = Field(description="Where this line is in the feed: the last one shown, as `after`, gets the next.")
    actor: str | None = Field(description="Who did it; null for no name (accounts off) or a re-import.")
    action: str = Field(
        description="accepted | accepted_with_edits | rejected | reopened | assigned | regenerated | merged | "
        "commented | edited_comment (its last edit; on a suggestion or an item); added | edited | imported (a backlog "
        "item)"
    )
    suggestion_id: int | None = None
    item_id: int | None = None
    kind: str | None = Field(None, description="The suggestion's kind.")
    subject: str = Field(description="What it was about: the suggestion's summary, or the item's title.")
    detail: str | None = Field(
        None, description="To whom it was assigned, why it was rejected, the comment, or the item's fields changed."
    )
