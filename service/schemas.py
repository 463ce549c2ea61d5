"""API request and response models (the Create / Update / Public families)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.drafting import MAX_CONTEXT_CHARS, MAX_TEXT_CHARS
from pipelines.models import ItemType, StoryDraftEdits
from pipelines.prioritization import FRAMEWORKS, InputEdits

SuggestionStatus = Literal["pending", "accepted", "rejected", "failed"]
SuggestionKind = Literal["story_draft", "merge", "evidence", "priority", "sprint_plan"]


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


class SuggestionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
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


class SuggestionEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
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
    decided_by: str | None = Field(None, max_length=200)


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


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    decided_by: str | None = Field(None, max_length=200)


class BacklogItemCreate(BaseModel):
    """An existing item imported from another tool."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    description: str = Field("", max_length=50_000)
    type: ItemType = "feature"
    labels: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]] = []
    priority: str | None = Field(None, max_length=40)
    external_id: str | None = Field(None, min_length=1, max_length=200)


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
    depends_on: list[int] | None = None
    created_at: datetime
    updated_at: datetime


class ImportSkipped(BaseModel):
    external_id: str
    existing_id: int
    reason: str


class ImportResult(BaseModel):
    created: list[BacklogItemPublic]
    skipped: list[ImportSkipped] = Field(description="Records whose external id is already in the backlog.")
    problems: list[str] = Field([], description="Records the file's parser skipped or cut, and why.")


class DuplicateSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)]
    k: int = Field(10, ge=1, le=100, description="How many candidates to return.")


class DuplicateCandidatePublic(BaseModel):
    item_id: int = Field(description="The backlog item id, or the suggestion id when kind is 'suggestion'.")
    kind: Literal["backlog_item", "suggestion"]
    title: str
    score: float = Field(ge=0, le=1)
    verdict: Literal["duplicate", "related", "distinct"]


class ModelStatus(BaseModel):
    """Where the model stands. `state`: ready; starting or restarting (`reason` says why); broken (`reason` says
    what to fix); remote for a model server Refinery does not run; not_started before the first use."""

    state: Literal["not_started", "starting", "ready", "restarting", "broken", "stopped", "remote"]
    reason: str = ""
    restarts: int = 0
    last_exit: str | None = None
    pid: int | None = None
    running: int = Field(0, description="Calls the model is working on now.")
    waiting: int = Field(0, description="Calls waiting in line for the model.")
    slots: int | None = Field(None, description="Calls the model works on at once.")


class Health(BaseModel):
    status: Literal["ok"]
    llm_provider: str
    llm_model: str | None
    llm_loaded: bool = Field(description="The model answers now (llm.state is ready or remote).")
    llm: ModelStatus
    database: str
    prompt_versions: dict[str, str]


class JobPublic(BaseModel):
    """An ingest job's progress; counts are tickets unless named otherwise."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: Literal["queued", "running", "done", "failed"]
    stage: str
    source: str
    filename: str
    total: int = Field(description="Data rows in the file.")
    processed: int = Field(description="Tickets redacted, embedded and classified.")
    skipped: int = Field(description="Rows with no usable text.")
    already_ingested: int = Field(description="Tickets an earlier upload already brought in (not added again).")
    failed: int
    themes: int
    suggestions: int
    llm_calls: int
    started_at: datetime | None
    finished_at: datetime | None
    eta_s: float | None = None
    errors: list[str]


class JobCreated(BaseModel):
    job_id: int
    status_url: str


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

    framework: Literal[FRAMEWORKS] = "rice"  # type: ignore[valid-type]
    item_ids: list[int] | None = Field(None, max_length=50, description="Default: the whole backlog (at most 50).")


class PrioritizeJobPublic(BaseModel):
    """A prioritization job's progress; `ranked` (best first, one row per item with its suggestion id) when done."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    status: Literal["queued", "running", "done", "failed"]
    framework: str
    total: int = Field(description="Items to estimate.")
    processed: int = Field(description="Items estimated so far.")
    failed: int = Field(description="Estimates that stayed invalid (failed suggestions).")
    errors: list[str]
    ranked: list[dict[str, Any]] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    eta_s: float | None = None


class PriorityUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class SprintPlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    capacity_points: int = Field(ge=1, le=1000)
