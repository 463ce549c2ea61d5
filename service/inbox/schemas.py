"""Requests and responses of the inbox routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.core.enums import NotificationReason
from service.core.schemas import IdValue

MAX_MARKED_AT_ONCE = 1000


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    reason: NotificationReason = Field(description="Why it is yours: mentioned, assigned, commented or decided.")
    suggestion_id: int | None = Field(description="The suggestion it is about (none: a backlog item's comment).")
    item_id: int | None = Field(None, description="The backlog item whose thread the comment is in, if so.")
    comment_id: int | None = Field(description="The comment it tells of, if any.")
    actor: str | None = Field(description="Who did it.")
    text: str = Field(description="One line: who did what to which suggestion or item.")
    at: datetime
    read: bool

    @model_validator(mode="before")
    @classmethod
    def _read(cls, row: object) -> object:
        if hasattr(row, "read_at"):
            return {name: getattr(row, name) for name in cls.model_fields if name != "read"} | {
                "read": row.read_at is not None
            }
        return row


class MarkRequest(BaseModel):
    """Mark lines of your inbox read (or unread again): these `ids`, those of one suggestion or backlog item, or `all`
    of them."""

    model_config = ConfigDict(extra="forbid")

    ids: list[IdValue] = Field([], max_length=MAX_MARKED_AT_ONCE, description="The lines' ids.")
    suggestion_id: IdValue | None = Field(None, description="Every line about this suggestion (it was looked at).")
    item_id: IdValue | None = Field(None, description="Every line about this backlog item's comments.")
    all: bool = Field(False, description="Every line of your inbox in this project.")
    read: bool = Field(True, description="false: mark them unread again.")

    @model_validator(mode="after")
    def _one(self) -> MarkRequest:
        if [bool(self.ids), self.suggestion_id is not None, self.item_id is not None, self.all].count(True) != 1:
            raise ValueError("give the lines' `ids`, a `suggestion_id`, an `item_id`, or `all: true` (one of them)")
        return self


class Marked(BaseModel):
    marked: int = Field(description="How many lines changed.")
    unread: int = Field(description="How many lines of your inbox are unread now.")


class SubscriptionSet(BaseModel):
    """Watch a suggestion (told of its comments and decisions), mute it (not told of them), or `null`: follow it as
    its assignment and thread say."""

    model_config = ConfigDict(extra="forbid")

    watching: bool | None


class SubscriptionPublic(BaseModel):
    suggestion_id: int | None = Field(description="The suggestion followed (none: a backlog item's thread).")
    item_id: int | None = Field(None, description="The backlog item whose thread is followed, if so.")
    following: bool = Field(description="Whether its comments (and a suggestion's decisions) reach your inbox.")
    why: str = Field(description="given to you, in its thread, watching, muted, or none of these.")
