"""SQLAlchemy tables: backlog items, suggestions, and the history of every decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    func,
    select,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from service.core.enums import DeliveryStatus, ImportPhase, JobStatus, SuggestionStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps stored and returned as aware UTC, on SQLite (which drops the zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9](?:[A-Za-z0-9._@-]*[A-Za-z0-9])?)")  # @ and a user name
DEFAULT_PROJECT_ID = 1  # made by the migration that brought projects; a database from before is all its data


class ProjectScoped:
    """Rows that belong to one project: service.core.scope shows a session only the current project's and puts new
    ones in it. Rows written without one (raw inserts) belong to the default project."""

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id"), index=True, server_default=text(str(DEFAULT_PROJECT_ID))
    )


def scoped_index(table: str, column: str) -> Index:
    """An index on a project's rows by `column` (their item, suggestion, thread, webhook): the project scope adds
    `project_id = ?` to every query, and SQLite without statistics then reads a lookup by the parent through the
    project's own index, every row of the project (an item list's comment counts: 0.19 s at 1,000 items and 3,000
    comments, 0.004 s with this; `bench/bench_refine.py`)."""
    return Index(f"ix_{table}_{column}_project_id", column, "project_id")


class BacklogItem(ProjectScoped, Base):
    """Accepted work. Rows are created only by a person accepting a suggestion, or by an import."""

    __tablename__ = "backlog_items"
    __table_args__ = (
        scoped_index("backlog_items", "parent_id"),
        scoped_index("backlog_items", "source_suggestion_id"),
        UniqueConstraint("project_id", "external_id", name="uq_backlog_items_project_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    item_type: Mapped[str] = mapped_column(String(20), default="feature")
    labels: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(200))  # unique in its project
    story: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source_suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id"))
    merged_into_id: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(Integer)  # the epic a split made this a child of
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # customer evidence attached by review
    priority_score: Mapped[float | None]
    priority_rank: Mapped[int | None] = mapped_column(Integer)
    ranked_by: Mapped[str | None] = mapped_column(String(200))  # who put it in its place by hand; a rerank keeps it
    priority_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # framework, inputs, score text
    priority_set_by: Mapped[str | None] = mapped_column(String(200))  # who decided it (a person, always)
    priority_set_at: Mapped[datetime | None]
    story_points: Mapped[int | None] = mapped_column(Integer)
    depends_on: Mapped[list[Any] | None] = mapped_column(JSON)
    imported: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # its fields as the tracker last gave them
    closed: Mapped[bool] = mapped_column(default=False, server_default=false())  # done or cancelled in its tracker
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ItemEvent(ProjectScoped, Base):
    """One change to a backlog item outside a suggestion (a person's edit, a re-import taking the tracker's
    changes), with the changed fields before and after."""

    __tablename__ = "item_events"
    __table_args__ = (scoped_index("item_events", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("backlog_items.id"))
    action: Mapped[str] = mapped_column(String(20))  # ItemAction
    actor: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Suggestion(ProjectScoped, Base):
    """An AI output awaiting (or after) a person's decision."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)  # SuggestionKind
    status: Mapped[str] = mapped_column(String(20), index=True, default=SuggestionStatus.pending)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(40))
    prompt_version: Mapped[str] = mapped_column(String(80))
    usage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    backlog_item_id: Mapped[int | None] = mapped_column(Integer)
    assignee: Mapped[str | None] = mapped_column(String(200), index=True)  # who is to decide it, if someone is
    # While pending (or failed, until tried again), what makes it one of a kind (a refinement suggestion: kind, item,
    # fingerprint), so that two workers making the same one store it once; cleared when it is decided.
    pending_key: Mapped[str | None] = mapped_column(String(120), unique=True)


class SuggestionEvent(Base):
    """One change to a suggestion, with the payload before and after."""

    __tablename__ = "suggestion_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # SuggestionAction
    actor: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)


def sent_where(sent_as: str) -> tuple[str, str, str]:
    """Where a comment is in its tracker, as `Comment.sent_as` names it: ("jira", "SHOP-3", "10001") of
    "jira:SHOP-3@10001"."""
    there, _, comment_id = sent_as.rpartition("@")
    kind, _, key = there.partition(":")
    return kind, key, comment_id


class Comment(ProjectScoped, Base):
    """A person's remark on a suggestion (a question to the team, why it is held), kept whatever its status, or on a
    backlog item (an answer to an open question, a decision in refinement); not a change to either, so in neither's
    history. Exactly one of `suggestion_id` and `item_id` is set: the thread it is in."""

    __tablename__ = "comments"
    __table_args__ = (
        scoped_index("comments", "suggestion_id"),
        scoped_index("comments", "item_id"),
        scoped_index("comments", "sent_as"),
        CheckConstraint("(suggestion_id IS NULL) <> (item_id IS NULL)", name="ck_comments_one_thread"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("backlog_items.id"))
    author: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column()  # its author's last change of the text
    # an item's comment as its tracker names it, "jira:SHOP-3@10001": posted there by a push, or read from there
    sent_as: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column()  # when a push posted (or last updated) it there
    from_tracker: Mapped[bool] = mapped_column(default=False, server_default=false())  # written there, read by a pull

    @property
    def mentions(self) -> list[str]:
        """The names it mentions (`@bo`, `@ana@example.com`), each once, in order; an e-mail address in the text is
        not a mention."""
        return list(dict.fromkeys(MENTION.findall(self.text)))


# Loaded with the suggestion and kept through its flushes (a flush of a suggestion never changes its comments); a new
# suggestion's is set to 0 where it is made (`service.core.suggestions.create_suggestion`).
Suggestion.comment_count = column_property(
    select(func.count(Comment.id))
    .where(Comment.suggestion_id == Suggestion.id)
    .correlate_except(Comment)
    .scalar_subquery(),
    expire_on_flush=False,
)
BacklogItem.comment_count = column_property(
    select(func.count(Comment.id)).where(Comment.item_id == BacklogItem.id).correlate_except(Comment).scalar_subquery(),
    expire_on_flush=False,
)  # likewise, loaded with the item


@event.listens_for(BacklogItem, "init")
def _no_comments_yet(item: BacklogItem, args: object, kwargs: object) -> None:
    set_committed_value(item, "comment_count", 0)  # a new item's, without a query for it


class Notification(ProjectScoped, Base):
    """A line in a person's inbox: something another person did that concerns them (a mention, a suggestion given to
    them, a comment or a decision on one), written in the transaction that did it (service.core.notifications)."""

    __tablename__ = "notifications"
    __table_args__ = (
        scoped_index("notifications", "suggestion_id"),
        scoped_index("notifications", "item_id"),
        scoped_index("notifications", "comment_id"),
        Index("ix_notifications_unread", "recipient", "project_id", "read_at"),  # a person's unread
        Index(  # the lines a mail round looks at: unread, not yet mailed, of the people due (service.inbox.mail)
            "ix_notifications_unmailed",
            "recipient",
            "at",
            sqlite_where=text("read_at IS NULL AND mailed_at IS NULL"),
            postgresql_where=text("read_at IS NULL AND mailed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(String(20))  # NotificationReason
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("backlog_items.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    actor: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)  # one line, as it was said then
    at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    mailed_at: Mapped[datetime | None]  # sent in an e-mail (still unread a while after `at`: service.inbox.mail)


class CommentRemoval(ProjectScoped, Base):
    """A comment deleted here that a push had posted on its item's issue: the next push deletes it there too."""

    __tablename__ = "comment_removals"
    __table_args__ = (scoped_index("comment_removals", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("backlog_items.id", ondelete="CASCADE"))
    sent_as: Mapped[str] = mapped_column(String(300))  # as the comment was posted: "jira:SHOP-3@10001"
    text: Mapped[str | None] = mapped_column(Text)  # as it was posted: a post whose answer was lost is found by it
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(ProjectScoped, Base):
    """A person's own choice about a suggestion's inbox lines: watching it (told of its comments and decisions though
    not given it and not in its thread), or muting it (not told of them though they are); or likewise about a backlog
    item's thread (exactly one of the two ids). Mentions and assignments reach them either way."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        scoped_index("subscriptions", "suggestion_id"),
        scoped_index("subscriptions", "item_id"),
        UniqueConstraint("suggestion_id", "person", name="uq_subscriptions_suggestion_person"),
        UniqueConstraint("item_id", "person", name="uq_subscriptions_item_person"),
        CheckConstraint("(suggestion_id IS NULL) <> (item_id IS NULL)", name="ck_subscriptions_one_thread"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("backlog_items.id", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(String(200))
    watching: Mapped[bool]  # False: muted
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedView(ProjectScoped, Base):
    """A named view of the review queue or the backlog, shared with the project: a tab and its filters, as the desk's
    address writes them (`label=billing&state=open`)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_saved_views_project_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    tab: Mapped[str] = mapped_column(String(20))  # core.enums.ViewTab
    query: Mapped[str] = mapped_column(String(1000))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(ProjectScoped, Base):
    """A URL told of a project's events (an HTTP POST per event, signed with its secret)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]] = mapped_column(JSON)  # WebhookEvent values
    secret: Mapped[str] = mapped_column(String(200))  # the HMAC key of X-Refinery-Signature (kept: it signs each)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(ProjectScoped, Base):
    """One event for one webhook: written in the transaction that made the event, sent (and retried) afterwards."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (scoped_index("webhook_deliveries", "webhook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))  # WebhookEvent
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True, default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # also a sender's lease
    status_code: Mapped[int | None] = mapped_column(Integer)  # the receiver's last answer
    error: Mapped[str | None] = mapped_column(Text)  # why the last attempt failed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class JobColumns:
    """What every background job's row has: its status, counts so far, errors and times."""

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default=JobStatus.queued)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class IngestJob(ProjectScoped, JobColumns, Base):
    """One uploaded feedback file and the work done on it; every stage can be resumed after a crash."""

    __tablename__ = "ingest_jobs"

    stage: Mapped[str] = mapped_column(String(20), default="triage")  # service.ingest.jobs.Stage
    source: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(300))
    file_path: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # mapping, product
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    already_ingested: Mapped[int] = mapped_column(Integer, default=0)
    themes: Mapped[int] = mapped_column(Integer, default=0)
    suggestions: Mapped[int] = mapped_column(Integer, default=0)
    llm_calls: Mapped[int] = mapped_column(Integer, default=0)


class TicketRow(ProjectScoped, Base):
    """A customer ticket or review. The original text stays here; only `redacted` ever reaches a model."""

    __tablename__ = "tickets"
    __table_args__ = (
        scoped_index("tickets", "job_id"),
        scoped_index("tickets", "theme_id"),
        UniqueConstraint("project_id", "key", name="uq_tickets_project_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))  # source:id, or hash:<sha256> of the text; unique in its project
    job_id: Mapped[int] = mapped_column(ForeignKey("ingest_jobs.id"))
    source: Mapped[str] = mapped_column(String(300))
    external_id: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text)
    customer: Mapped[str | None] = mapped_column(String(300))
    created: Mapped[datetime | None]
    redacted: Mapped[str | None] = mapped_column(Text)
    redactions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    category: Mapped[str | None] = mapped_column(String(20))
    category_score: Mapped[float | None]
    theme_id: Mapped[int | None] = mapped_column(Integer)
    processed_at: Mapped[datetime | None]


class ThemeRow(ProjectScoped, Base):
    """A group of a job's tickets about one thing, and the suggestion made from it (exactly once)."""

    __tablename__ = "themes"
    __table_args__ = (scoped_index("themes", "job_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("ingest_jobs.id"))
    ticket_ids: Mapped[list[Any]] = mapped_column(JSON)  # most typical first
    cohesion: Mapped[float]
    suggestion_id: Mapped[int | None] = mapped_column(Integer)


class Strategy(ProjectScoped, Base):
    """Product goals / OKRs as text; the newest row is the current strategy (older rows are its history)."""

    __tablename__ = "strategy"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    set_by: Mapped[str | None] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrioritizeJob(ProjectScoped, JobColumns, Base):
    """One prioritization request, run in the background: an estimate per item, then the ranking over them."""

    __tablename__ = "prioritize_jobs"

    framework: Mapped[str] = mapped_column(String(20))
    item_ids: Mapped[list[Any]] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(200))
    ranked: Mapped[list[Any] | None] = mapped_column(JSON)
    estimates: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # fanned out: each item's estimate, kept once


class RefineJob(ProjectScoped, JobColumns, Base):
    """One refinement run over backlog items: quality check, then rewrite, split, estimate and labels suggestions."""

    __tablename__ = "refine_jobs"

    item_ids: Mapped[list[Any]] = mapped_column(JSON)
    done_item_ids: Mapped[list[Any] | None] = mapped_column(JSON)  # items refined (fanned out: each counted once)
    actor: Mapped[str | None] = mapped_column(String(200))
    findings: Mapped[int] = mapped_column(Integer, default=0)
    suggestions: Mapped[int] = mapped_column(Integer, default=0)


class TrackerConnection(ProjectScoped, Base):
    """Where a project's backlog items are sent (one tracker per project): Jira Cloud or GitHub issues."""

    __tablename__ = "tracker_connections"
    __table_args__ = (UniqueConstraint("project_id", name="uq_tracker_connections_project_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # TrackerKind
    url: Mapped[str] = mapped_column(String(2000))  # Jira site, or GitHub's API root
    target: Mapped[str] = mapped_column(String(200))  # Jira project key, or GitHub owner/repo
    user: Mapped[str | None] = mapped_column(String(200))  # Jira account email (GitHub needs none)
    token: Mapped[str] = mapped_column(String(2000))  # kept to call the tracker; never shown again
    story_points_field: Mapped[str | None] = mapped_column(String(100))  # Jira's custom field id
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    hook_secret: Mapped[str | None] = mapped_column(String(100))  # the tracker signs its webhooks with it
    hook_received_at: Mapped[datetime | None]  # the last webhook taken
    hook_last: Mapped[str | None] = mapped_column(String(500))  # what it was and what came of it
    pull_every_minutes: Mapped[int | None]  # pulled on a schedule (service.trackers.schedule); None: only when asked
    order_sent: Mapped[list[Any] | None] = mapped_column(JSON)  # the issue keys a push last put in the backlog's order
    edition: Mapped[str | None] = mapped_column(String(20))  # Jira: JiraEdition (None: cloud)


class PushJob(ProjectScoped, JobColumns, Base):
    """Sending backlog items to the project's tracker: new ones created, ones changed here since updated."""

    __tablename__ = "push_jobs"

    item_ids: Mapped[list[Any]] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(200))
    tracker: Mapped[str] = mapped_column(String(300))  # e.g. "jira SHOP at https://acme.atlassian.net"
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    comments_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # posted on the issues there
    send_order: Mapped[bool] = mapped_column(default=False, server_default=false())  # also rank the issues there


class ImportColumns(JobColumns):
    """An import run as a job (a file, or a pull of a tracker's issues): `total` records, `processed` of them read,
    then imported and embedded; the records are kept until it ends, so a resumed job goes on from its phase."""

    source: Mapped[str] = mapped_column(String(300))  # "backlog.csv (jira_csv)", "Jira project SHOP at ..."
    actor: Mapped[str | None] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(20), default=ImportPhase.importing)  # ImportPhase
    records: Mapped[list[Any] | None] = mapped_column(JSON)  # the parsed items (BacklogItemCreate) until it ends
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)  # records the parser skipped or cut, and why
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    created_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updates: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ImportUpdated: what was applied or kept
    dry_run: Mapped[bool] = mapped_column(default=False)  # what it would do: its rows written, then rolled back


class ImportJob(ProjectScoped, ImportColumns, Base):
    """A tracker's export file imported into the backlog (service.backlog.jobs)."""

    __tablename__ = "import_jobs"


class PullJob(ProjectScoped, ImportColumns, Base):
    """The connected tracker's issues read and imported into the backlog (service.trackers.jobs)."""

    __tablename__ = "pull_jobs"

    since: Mapped[datetime | None]  # only the issues changed there since then were read; None: every issue


class Conversation(ProjectScoped, Base):
    """An uploaded meeting transcript or chat export, or a backlog item's comments, as speaker turns, and the summary
    its job made."""

    __tablename__ = "conversations"
    __table_args__ = (scoped_index("conversations", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(20))  # pipelines.transcripts.TranscriptFormat
    filename: Mapped[str] = mapped_column(String(300))
    turns: Mapped[list[Any]] = mapped_column(JSON)  # [{index, speaker, text, thread, at}] as uploaded
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)  # what the parser skipped
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # notes by list, with suggestion ids
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    item_id: Mapped[int | None] = mapped_column(Integer)  # a backlog item's comments read as a conversation: the item


class ConversationJob(ProjectScoped, JobColumns, Base):
    """Reading one conversation: chunks done (`processed` of `total`), suggestions made, quotes checked."""

    __tablename__ = "conversation_jobs"
    __table_args__ = (scoped_index("conversation_jobs", "conversation_id"),)

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    suggestions: Mapped[int] = mapped_column(Integer, default=0)
    quotes_checked: Mapped[int] = mapped_column(Integer, default=0)
    quotes_dropped: Mapped[int] = mapped_column(Integer, default=0)


class Project(Base):
    """A backlog with its own members. Today's routes act on the default project."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    duplicates_learned_since: Mapped[datetime | None]  # merges decided before do not recalibrate duplicates
    drafts_learned_since: Mapped[datetime | None]  # drafts accepted with edits before are not examples
    readiness: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # its Definition of Ready; None: the default


class User(Base):
    """An account. While there are none the service is open on loopback only; the first user turns auth on."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))  # scrypt; None: tokens only
    email: Mapped[str | None] = mapped_column(String(320))  # where unread inbox lines are mailed (service.inbox.mail)
    email_notifications: Mapped[bool] = mapped_column(default=True, server_default=true())  # False: none mailed
    mail_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)  # its mail's unsubscribe link
    mail_every: Mapped[str] = mapped_column(String(10), default="soon", server_default="soon")  # core.enums.MailEvery
    last_mailed_at: Mapped[datetime | None]  # when a message last went to them (hourly, daily: the next waits)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    """A user's role (core.enums.Role) in one project."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "project_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))


class Credential(Base):
    """A secret that authenticates a user: an API token (`Authorization: Bearer`) or a desk login (a session
    cookie). Only its SHA-256 is stored; the secret is shown once."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # service.accounts.service.CredentialKind
    name: Mapped[str] = mapped_column(String(100), default="")
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
