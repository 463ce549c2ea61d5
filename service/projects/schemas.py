"""Requests and responses of the project routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.core.enums import Role
from service.core.scope import KEY_PATTERN


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class ProjectPublic(BaseModel):
    key: str
    name: str
    created_at: datetime
    role: Role | None = None  # the caller's role in it (None while accounts are off)
    unread: int | None = Field(
        None, description="Lines of the caller's inbox unread there; null: the caller is not named."
    )
