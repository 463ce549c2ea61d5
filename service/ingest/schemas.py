"""Responses of the ingest routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.core.schemas import JobPublic


class IngestJobPublic(JobPublic):
    """An ingest job's progress; counts are tickets unless named otherwise."""

    stage: str
    source: str
    filename: str
    total: int = Field(description="Data rows in the file.")
    processed: int = Field(description="Tickets redacted, embedded and classified.")
    skipped: int = Field(description="Rows with no usable text.")
    already_ingested: int = Field(description="Tickets an earlier upload already brought in (not added again).")
    themes: int
    unthemed: int = Field(
        0,
        description="Bugs, feature requests and questions in no theme (too few alike, none close enough to join one).",
    )
    unthemed_to_items: int = Field(
        0, description="Of the unthemed, tickets proposed as evidence for the backlog item each reads like."
    )
    suggestions: int = Field(description="Suggestions made for review (evidence, story drafts); failed drafts not.")
    failed: int = Field(description="Themes whose story draft failed (a failed suggestion each; why in errors).")
    llm_calls: int


class WeekCount(BaseModel):
    week: str = Field(description="The Monday of the ISO week (YYYY-MM-DD), or `undated` for tickets with no date.")
    tickets: int


class ThemePublic(BaseModel):
    """A theme of an ingest job: its tickets, the suggestion made from it, and its tickets per week."""

    id: int
    title: str | None = Field(description="The title of its suggestion (a story draft, or the matched item).")
    tickets: int
    cohesion: float
    suggestion_id: int | None
    weeks: list[WeekCount] = Field(description="Tickets per week by their own date, oldest first.")


class UnthemedTicket(BaseModel):
    id: int
    external_id: str | None
    category: str = Field(description="bug, feature_request or question.")
    text: str = Field(description="The redacted text, its first 300 characters.")
    suggestion_id: int | None = Field(
        description="The evidence suggestion proposing it for the backlog item it reads like, if there is one."
    )


class UnthemedPublic(BaseModel):
    """A job's bugs, feature requests and questions in no theme: counts by category, how many were proposed as
    evidence for a backlog item, and the tickets themselves (first `limit`, in id order)."""

    counts: dict[str, int]
    to_items: int = Field(description="Of them, tickets proposed as evidence for an existing backlog item.")
    tickets: list[UnthemedTicket]
