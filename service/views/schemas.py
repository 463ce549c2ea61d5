"""A saved view as it is asked for and shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.core.enums import ViewTab

ViewName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class SavedViewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ViewName = Field(description="How the project's people find it (unique in the project).")
    tab: ViewTab
    query: str = Field(
        "",
        max_length=1000,
        description="The filters as the desk's address writes them: review `kind, status, q, assigned`; backlog "
        "`q, type, label, under, state` (`label=billing&state=open`); those left out are at their defaults.",
    )


class SavedViewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    tab: ViewTab
    query: str
    created_by: str | None
    created_at: datetime
