"""Responses of the ingest routes."""

from __future__ import annotations

from pydantic import Field

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
    suggestions: int = Field(description="Suggestions made for review (evidence, story drafts); failed drafts not.")
    failed: int = Field(description="Themes whose story draft failed (a failed suggestion each; why in errors).")
    llm_calls: int
