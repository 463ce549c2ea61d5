"""Response models more than one feature answers with: suggestions, backlog items, comments, queued jobs, errors; and
the bounds every id and offset in a request shares."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field, field_validator

from service.core.enums import JobStatus, SuggestionKind, SuggestionStatus
from service.core.summaries import summary

MAX_COMMENT = 10_000
Decider = Annotated[
    str | None, Field(max_length=200, description="Who decides (or comments); ignored once accounts are on.")
]


CommentText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_COMMENT)]


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: CommentText
    author: Decider = None


class CommentUpdate(BaseModel):
    """A comment's new text (its author's edit)."""

    model_config = ConfigDict(extra="forbid")

    text: CommentText


class CommentPublic(BaseModel):
    """A comment in a suggestion's thread (`suggestion_id`) or a backlog item's (`item_id`)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    suggestion_id: int | None
    item_id: int | None
    author: str | None
    text: str
    at: datetime
    edited_at: datetime | None = Field(None, description="When its author last changed it; null if never.")
    mentions: list[str] = Field(description="The names it mentions with @ (`@bo`), each once.")
    sent_as: str | None = Field(
        None,
        description="An item's comment a push posted on its issue, or one read from there: the tracker, issue and "
        "comment there.",
    )
    from_tracker: bool = Field(False, description="Written in the tracker, read by a pull: edited or deleted there.")


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
    assignee: str | None = Field(None, description="Who is to decide it (`POST .../assign`); null: no one.")
    evidence: dict[str, Any] | None = Field(
        None, description="What supports the suggestion, e.g. its likely duplicates with scores and verdicts."
    )
    comment_count: int = Field(0, description="How many comments people left on it (`GET .../comments`).")

    @computed_field(description='One line on what it proposes, e.g. `Merge "A" into "B"` or `5 points for "A"`.')
    @property
    def summary(self) -> str:
        return summary(self)


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
    ranked_by: str | None = Field(
        None, description="Who put it in its place in the order by hand (`POST /v1/backlog/rank`); a rerank keeps it."
    )
    priority_detail: dict[str, Any] | None = None
    priority_set_by: str | None = None
    priority_set_at: datetime | None = None
    story_points: int | None = None
    parent_id: int | None = Field(
        None, description="The item it is under: the epic a split made it a child of, or one a person put it under."
    )
    closed: bool = Field(False, description="Done or cancelled in its tracker: history, not work to refine or plan.")
    depends_on: list[int] = Field(
        [], description="The ids of the items it waits for: set by a person, imported, or by an accepted priority."
    )
    comment_count: int = Field(0, description="How many comments its thread has (`/v1/backlog/{id}/comments`).")
    created_at: datetime
    updated_at: datetime

    @field_validator("depends_on", mode="before")
    @classmethod
    def _none_is_no_dependency(cls, value: list[int] | None) -> list[int]:
        return value or []


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


# -- request bounds: a number the database cannot hold is a 422, not a 500 (SQLite's integers have 64 bits, the id
# columns on PostgreSQL 32: INTEGER) ----------------------------------------------------------------------------------
MAX_ID = 2**31 - 1
MAX_OFFSET = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id (a positive 32-bit integer).")]
IdValue = Annotated[int, Field(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many to skip.")]
DryRun = Annotated[bool, Query(description="Only say what it would do; nothing is written.")]


# -- errors -----------------------------------------------------------------------------------------------------------
class ErrorPublic(BaseModel):
    """A refused request: what went wrong and, where it can, what to do."""

    detail: str


class ValidationIssue(BaseModel):
    """One thing wrong with the request: where (`loc`), what (`msg`), and its kind (`type`)."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = Field(None, description="The value at fault; left out or cut when it is large.")
    ctx: dict[str, Any] | None = None


class InvalidPublic(BaseModel):
    """422: a list of what is malformed in the request, or a sentence saying why well-formed content cannot be used
    (an unreadable file, an edit that does not fit, an empty backlog)."""

    detail: list[ValidationIssue] | str


ERROR_MEANINGS = {
    400: "The request could not be read (a broken multipart body, ...).",
    401: "Not signed in; for a tracker's webhook, not signed with this project's secret.",
    403: "The caller may not do this: another person's comment, or a role too weak for the route.",
    404: "No such item, suggestion, job or conversation.",
    409: "The request conflicts with the current state (already decided, stale, set by a person, ...).",
    413: "The body is larger than the service takes (REFINERY_MAX_JSON_MB, REFINERY_MAX_UPLOAD_MB).",
    422: "The request is malformed, or its content cannot be used: `detail` says what to fix.",
    429: "Too many requests: model work past REFINERY_MODEL_RATE_PER_MINUTE for this client (retry after the "
    "`Retry-After` seconds), or too many jobs queued.",
    502: "The project's tracker (Jira, GitHub, Linear) refused or could not be reached: `detail` has its answer.",
    503: "The model or the duplicate index is not available: `detail` says why and what to do.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error statuses it can answer, each with its body's model."""
    return {
        code: {"model": InvalidPublic if code == 422 else ErrorPublic, "description": ERROR_MEANINGS[code]}
        for code in codes
    }
