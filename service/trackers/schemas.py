"""Requests and responses of the tracker routes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints, model_validator

from service.backlog.schemas import ImportJobPublic
from service.core.enums import JiraEdition, TrackerKind
from service.core.schemas import IdValue, JobPublic

Url = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]
GITHUB_API = "https://api.github.com"
LINEAR_API = "https://api.linear.app"
KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]+$")  # a Jira project's key, and a Linear team's
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
DEFAULT_URL = {TrackerKind.github: GITHUB_API, TrackerKind.linear: LINEAR_API}
MAX_PUSH = 1000
TARGETS = {
    TrackerKind.jira: (KEY_RE, "Jira project key: capital letters, like SHOP"),
    TrackerKind.github: (GITHUB_REPO_RE, "GitHub repository: owner/repo"),
    TrackerKind.linear: (KEY_RE, "Linear team key: capital letters, like ENG"),
}  # items per push job


class TrackerSet(BaseModel):
    """Where this project's items go. The token is kept to call the tracker and never shown again; left out, the one
    kept is used (to change the other fields alone)."""

    model_config = ConfigDict(extra="forbid")

    kind: TrackerKind = Field(description="jira (Jira Cloud), github (GitHub issues) or linear.")
    url: Url | None = Field(
        None, description=f"Jira: the site, e.g. https://acme.atlassian.net. GitHub: its API root ({GITHUB_API})."
    )
    target: str = Field(
        min_length=1, max_length=200, description="Jira: a project key (SHOP). GitHub: owner/repo. Linear: a team key."
    )
    user: str | None = Field(None, max_length=200, description="Jira: the account's email (the others need none).")
    token: str | None = Field(None, min_length=1, max_length=2000, description="An API token (Linear: an API key).")
    story_points_field: str | None = Field(
        None, pattern=r"^customfield_\d+$", description="Jira: the story points field (default customfield_10016)."
    )
    pull_every_minutes: int | None = Field(
        None, ge=5, le=1440, description="Pull the tracker's issues this often (5-1440 minutes); null: only when asked."
    )
    edition: JiraEdition | None = Field(
        None, description="Jira: cloud (the default) or data_center (REST v2; a personal access token, or a user and "
        "password).",
    )  # fmt: skip

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        pattern, shape = TARGETS[self.kind]
        if not pattern.match(self.target):
            raise ValueError(f"target {self.target!r} is not a {shape}")
        if self.kind == TrackerKind.jira:
            cloud = self.edition in (None, JiraEdition.cloud)
            missing = [name for name in ("url", "user") if not getattr(self, name) and (cloud or name == "url")]
            if missing:
                raise ValueError(f"a Jira connection needs {' and '.join(missing)} (the site and the account's email)")
        elif self.user or self.story_points_field or self.edition:
            raise ValueError(f"user, story_points_field and edition are Jira's: a {self.kind} connection has none")
        return self


class TrackerPublic(BaseModel):
    kind: TrackerKind
    url: str
    target: str
    user: str | None
    story_points_field: str | None
    edition: JiraEdition | None = Field(None, description="Jira: cloud or data_center.")
    pull_every_minutes: int | None = Field(description="How often its issues are pulled by themselves; null: never.")
    last_pull: str | None = Field(
        None, description="The last pull that ended: when, by whom (or the schedule), and what came of it."
    )
    browse_url: str | None = Field(
        description="An issue's page: replace {key} with its key (SHOP-12, or 12 on GitHub); null for Linear, whose "
        "pages are under the workspace's name."
    )
    updated_by: str | None
    updated_at: datetime


class HookSetup(BaseModel):
    """How the tracker tells Refinery of its changes: where it sends its webhooks, the secret it signs them with
    (admins only), and the last one heard."""

    url: str = Field(description="Where the tracker sends them: this server's address as this request reached it.")
    secret: str = Field(description="Enter it as the webhook's secret in the tracker.")
    events: str = Field(description="Where to add the webhook in the tracker, and which events to pick.")
    received_at: datetime | None = Field(description="When the last webhook was taken; null before the first.")
    last: str | None = Field(description="What it was about and what came of it.")


class HookSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(
        None, min_length=16, max_length=100, pattern=r"^[\x21-\x7e]+$",
        description="The secret the tracker signs with (Linear shows its own); left out, a new random one.",
    )  # fmt: skip


class HookHeard(BaseModel):
    """What became of one webhook."""

    key: str | None = Field(description="The issue it named (SHOP-12, owner/repo#12, ENG-12); null when ignored.")
    imported: bool = Field(description="Whether the issue was read from the tracker and imported.")
    detail: str = Field(description="What came of it: added, updated (which fields), unchanged, or why ignored.")


class TrackerCheck(BaseModel):
    ok: bool
    detail: str = Field(description="Who the tracker says the token is and what it found, or what to fix.")


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[IdValue] | None = Field(
        None, min_length=1, max_length=MAX_PUSH,
        description="These items (default: every open item, and every item already in this tracker).",
    )  # fmt: skip
    order: bool = Field(
        False,
        description="Then put the ranked issues in the backlog's order there (Jira's rank, Linear's manual order; "
        "GitHub has none).",
    )


class PushJobPublic(JobPublic):
    """A push's progress: items created in the tracker, updated there, unchanged since sent, skipped, failed."""

    tracker: str
    total: int = Field(description="Items to send.")
    processed: int = Field(description="Items done so far, whatever the outcome.")
    created: int = Field(description="Items created in the tracker.")
    updated: int = Field(
        description="Items changed here since the tracker last had them (fields, or what they wait for), updated there."
    )
    unchanged: int = Field(description="Items the tracker already has as they are.")
    skipped: int = Field(description="Items not sent (of another tracker, or closed and never sent): see errors.")
    failed: int = Field(description="Items the tracker refused or could not be reached for (see errors).")
    comments_sent: int = Field(
        0,
        description="Comments made here on items, posted on their issues there (or updated or deleted there, as "
        "they were edited or deleted here since).",
    )
    created_at: datetime


class PlannedPublic(BaseModel):
    """What a push would do with one item."""

    model_config = ConfigDict(from_attributes=True)

    item_id: int
    title: str
    outcome: str = Field(description="created, updated or skipped (unchanged items are only counted).")
    key: str | None = Field(description="Its key in the tracker, once sent.")
    changed: list[str] = Field(
        description="The fields an update would send: those changed here since the last sync; `depends_on` when the "
        "items it waits for changed (sent as the tracker's blocked-by links)."
    )
    reason: str | None = Field(description="Why it would be skipped.")


class PushPreview(BaseModel):
    """What a push would do now, asking the tracker nothing: counts, and each item it would create, update or skip."""

    tracker: str
    created: int
    updated: int
    unchanged: int
    skipped: int
    items: list[PlannedPublic]


class PullJobPublic(ImportJobPublic):
    """A pull's progress and, once done, what came of it."""

    since: datetime | None = Field(
        description="Only the issues changed in the tracker since then were read; null: every issue (the first pull, "
        "the first of another tracker, one asked for with `full`, or the first in a day)."
    )
