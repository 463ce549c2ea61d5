"""Requests and responses of the backlog routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pipelines.models import ItemType
from service.core.enums import ImportPhase
from service.core.schemas import BacklogItemPublic, CommentText, IdValue, JobPublic

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
MAX_BULK = 500  # items edited alike at once
CLEARABLE = ("story_points", "parent_id")  # what an edit may set to null


class TrackerComment(BaseModel):
    """A comment on an item's issue, written in its tracker (as a pull or a file of issues gives it)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100, description="The tracker's id of the comment.")
    author: str | None = Field(None, max_length=200, description="Who wrote it there (their name in the tracker).")
    text: CommentText
    at: AwareDatetime | None = Field(None, description="When it was written there.")


class BacklogItemCreate(BaseModel):
    """An existing item imported from another tool."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: str = Field("", max_length=50_000)
    item_type: ItemType = Field(
        "feature",
        validation_alias=AliasChoices("item_type", "type"),
        description="As every other model names it; `type` is accepted too (this field's name until 2026-11-27).",
    )
    labels: list[Label] = []
    priority: str | None = Field(None, max_length=40)
    external_id: str | None = Field(None, min_length=1, max_length=200)
    story_points: int | None = Field(None, ge=0, le=1000, description="The team's estimate, if it has one.")
    parent: str | None = Field(
        None, max_length=200, description="The parent's key (e.g. SHOP-12, its external id): linked once both exist."
    )
    depends_on_keys: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = (
        Field(
            [],
            max_length=100,
            description='The keys of the items it waits for (Jira\'s "is blocked by", e.g. SHOP-3): linked once '
            "both exist, as `depends_on`.",
        )
    )
    closed: bool = Field(
        False,
        description="Done or cancelled in its tracker: kept as history (comparables for estimates, duplicates), left "
        "out of refinement runs, prioritization of the whole backlog, the refinement queue and sprint plans.",
    )
    comments: list[TrackerComment] = Field(
        [],
        max_length=1000,
        description="Its comments in the tracker: each added to its thread once (by `external_id` and the comment's "
        "`id`), and changed here when its text changed there. Needs `external_id`.",
    )
    comments_whole: bool = Field(
        False,
        description="Whether `comments` is the issue's whole thread in the tracker (as a pull reads it): a comment "
        "read from the tracker before and not among them was deleted there, and is deleted here too.",
    )

    @model_validator(mode="after")
    def _comments_need_a_key(self) -> BacklogItemCreate:
        if self.comments and not self.external_id:
            raise ValueError("comments need the item's external_id, so that a re-import does not add them again")
        return self


class BacklogFilter(BaseModel):
    """Which items a backlog listing shows (every filter given must hold)."""

    q: str | None = Field(
        None,
        max_length=200,
        description="Words that must all appear (any case) in the title, the description or the key (e.g. SHOP-12).",
    )
    item_type: ItemType | None = Field(None, description="Only items of this type.")
    label: Label | None = Field(None, description="Only items with this label (labels are kept in lower case).")
    state: Literal["open", "closed", "all"] = Field(
        "all", description="open: not done or cancelled in its tracker; closed: done or cancelled."
    )
    parent_id: IdValue | None = Field(None, description="Only the items under this one (an epic's stories).")


class BacklogItemUpdate(BaseModel):
    """A person's edit of an item: the fields given change (`story_points: null` clears the points)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: str | None = Field(None, max_length=50_000)
    item_type: ItemType | None = None
    labels: list[Label] | None = None
    story_points: int | None = Field(None, ge=0, le=1000)
    closed: bool | None = Field(None, description="Done or cancelled: history, not work to refine or plan.")
    depends_on: list[IdValue] | None = Field(
        None,
        max_length=100,
        description='The ids of the items it waits for (Jira\'s "is blocked by"), all of them; [] removes every '
        "dependency. Ranks and sprint plans put them first; a cycle is refused.",
    )
    parent_id: IdValue | None = Field(
        None,
        description="The item it is a child of (an epic's story, as a split makes it); null: none. Its tracker's "
        "issue is moved under the parent's by the next push. An item under its own child is refused.",
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> BacklogItemUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give at least one of " + ", ".join(type(self).model_fields))
        nulls = sorted(n for n in self.model_fields_set if getattr(self, n) is None and n not in CLEARABLE)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (only {' and '.join(CLEARABLE)} can be cleared)")
        return self


class BacklogBulkEdit(BaseModel):
    """Several items edited alike (Jira's bulk change): labels added or removed, type, done or open again, moved under
    an epic or out of any."""

    model_config = ConfigDict(extra="forbid")

    item_ids: list[IdValue] = Field(min_length=1, max_length=MAX_BULK, description="The items to edit.")
    add_labels: list[Label] = Field([], max_length=20, description="Labels each item gets (kept in lower case).")
    remove_labels: list[Label] = Field([], max_length=20, description="Labels taken off each item that has them.")
    item_type: ItemType | None = None
    closed: bool | None = Field(None, description="Done or cancelled (true), or open again (false).")
    parent_id: IdValue | None = Field(None, description="The item each goes under (an epic); null: under none.")

    @model_validator(mode="after")
    def _something_to_change(self) -> BacklogBulkEdit:
        moved = "parent_id" in self.model_fields_set
        if not (self.add_labels or self.remove_labels or self.item_type or self.closed is not None or moved):
            raise ValueError("nothing to change: give add_labels, remove_labels, item_type, closed or parent_id")
        both = {x.lower() for x in self.add_labels} & {x.lower() for x in self.remove_labels}
        if both:
            raise ValueError(f"{', '.join(sorted(both))} both added and removed: give each label once")
        return self


class BulkRefused(BaseModel):
    id: int
    detail: str


class LabelCount(BaseModel):
    """A label the project's items use, and how many carry it."""

    label: str
    items: int


class BulkEdited(BaseModel):
    changed: list[int] = Field([], description="Items the edit changed (each change is in the item's history).")
    unchanged: list[int] = Field([], description="Items that already were so.")
    refused: list[BulkRefused] = Field([], description="Items not edited, and why (unknown, merged away).")


class ItemEventPublic(BaseModel):
    """One change to an item outside a suggestion: the changed fields before and after."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    action: str = Field(description="edited (by a person) | imported (a re-import took the tracker's changes)")
    actor: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    at: datetime


class ImportSkipped(BaseModel):
    external_id: str
    existing_id: int
    reason: str


class ImportUpdated(BaseModel):
    """An item already here that the tracker changed since the last import."""

    external_id: str
    item_id: int
    changed: list[str] = Field(description="Fields the tracker changed, now the item's as the tracker has them.")
    kept: list[str] = Field(
        description="Fields changed both here (an accepted suggestion, a person) and in the tracker: kept as they "
        "are here; a later re-import does not raise them again unless the tracker changes them again."
    )


class ImportJobPublic(JobPublic):
    """An import's progress (a file, or a pull of the tracker's issues) and, once done, what came of it."""

    source: str = Field(description="The file and its format, or the tracker.")
    phase: ImportPhase = Field(
        description="reading (a pull: the tracker's issues), importing (the rows), indexing (the new text embedded)."
    )
    total: int = Field(description="Records to import (a pull: known once its issues are read).")
    processed: int = Field(description="While reading, issues read; then records imported and embedded.")
    created: int = Field(description="Items added.")
    updated: int = Field(description="Items already here that the tracker changed since the last import.")
    unchanged: int = Field(description="Records already here and unchanged (or merged into another item here).")
    created_ids: list[int] = Field(description="The ids of the items added.")
    updates: list[ImportUpdated] = Field(description="What each update applied, and kept as it is here.")
    problems: list[str] = Field(description="Records the parser skipped or cut, and why.")
    dry_run: bool = Field(description="What the import would do: the counts and updates, nothing written.")
    created_at: datetime


class ImportResult(BaseModel):
    created: list[BacklogItemPublic]
    updated: list[ImportUpdated] = Field(
        [], description="Items already here that the tracker changed since the last import: what was applied or kept."
    )
    skipped: list[ImportSkipped] = Field(
        description="Records whose external id is already in the backlog, unchanged in the tracker since the last "
        "import (or merged into another item here)."
    )
    problems: list[str] = Field([], description="Records the file's parser skipped or cut, and why.")

    @classmethod
    def of(cls, imported: Any) -> ImportResult:
        """The result of an import (`service.backlog.service.Imported`) as clients see it."""
        created = [BacklogItemPublic.model_validate(item) for item in imported.created]
        return cls(created=created, updated=imported.updated, skipped=imported.skipped, problems=imported.problems)
