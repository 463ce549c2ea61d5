"""The vocabularies every layer shares (tables, domain, API), typed once."""

from __future__ import annotations

from enum import StrEnum


class SuggestionKind(StrEnum):
    story_draft = "story_draft"
    merge = "merge"
    evidence = "evidence"
    priority = "priority"
    sprint_plan = "sprint_plan"
    rewrite = "rewrite"
    split = "split"
    estimate = "estimate"
    labels = "labels"
    decision = "decision"
    action_item = "action_item"
    item_change = "item_change"


class SuggestionStatus(StrEnum):
    """pending -> accepted | rejected; failed (the model's output stayed invalid) is terminal."""

    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    failed = "failed"


class ItemAction(StrEnum):
    """What a backlog item's own history records (changes by accepted suggestions are in theirs)."""

    added = "added"  # by a person or a script, an item of no tracker (POST /v1/backlog/items, `refinery backlog add`)
    edited = "edited"  # by a person, PATCH /v1/backlog/{id}
    imported = "imported"  # a re-import took the tracker's changes
    sent = "sent"  # created or updated in the project's tracker by a person's push (service.trackers)
    ranked = "ranked"  # put in its place in the backlog's order by a person (before or after another, top, bottom)


class RankPlace(StrEnum):
    """Where a person puts backlog items in the order without naming an item to go before or after."""

    top = "top"
    bottom = "bottom"
    score = "score"  # no longer placed by hand: back where the accepted scores put them


class SuggestionAction(StrEnum):
    """What a history event records."""

    created = "created"
    regenerated = "regenerated"
    accepted = "accepted"
    accepted_with_edits = "accepted_with_edits"
    rejected = "rejected"
    merged = "merged"
    reopened = "reopened"  # a decision undone: pending again
    assigned = "assigned"  # given to a person to decide (or given back: no one)


class WebhookEvent(StrEnum):
    """What a webhook can be told of (service.core.outbox); `ping` is the test an admin sends."""

    suggestion_created = "suggestion.created"  # pending, or failed (the model's output stayed invalid)
    suggestion_accepted = "suggestion.accepted"  # with or without edits
    suggestion_rejected = "suggestion.rejected"  # by a person, or a draft a merge folded in
    suggestion_reopened = "suggestion.reopened"  # a decision undone
    suggestion_assigned = "suggestion.assigned"  # given to a person to decide, or to no one
    comment_created = "comment.created"
    comment_updated = "comment.updated"  # its author changed its text
    item_created = "item.created"  # a person added a backlog item of their own
    item_updated = "item.updated"  # a person edited a backlog item (one, or several alike): the fields changed
    notification_created = "notification.created"  # a line in someone's inbox: for a chat to tell that person
    job_finished = (
        "job.finished"  # a background job (ingest, refine, prioritize, conversation) done, failed or cancelled
    )
    ping = "ping"


class NotificationReason(StrEnum):
    """Why a person's inbox holds a line (service.core.notifications), strongest first: one line a person per event."""

    mentioned = "mentioned"  # named with @ in a comment
    assigned = "assigned"  # given a suggestion to decide
    commented = "commented"  # a comment on a suggestion they follow (given to them, in its thread, watching it)
    decided = "decided"  # someone else decided (or undid) a suggestion they follow
    edited = "edited"  # someone else edited a backlog item they follow (in its thread, watching it)


class DeliveryStatus(StrEnum):
    """pending (waiting for its first or next attempt) -> delivered | failed (every attempt refused)."""

    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class TrackerKind(StrEnum):
    """The trackers a project's backlog items are sent to (service.trackers); their keys as imports name them."""

    jira = "jira"  # Jira Cloud, REST API v3
    github = "github"  # GitHub (or GitHub Enterprise Server) issues, REST API
    linear = "linear"  # Linear, GraphQL API


class JiraEdition(StrEnum):
    """Which Jira a connection calls: Jira Cloud (REST v3, ADF descriptions) or Data Center (REST v2, wiki markup)."""

    cloud = "cloud"
    data_center = "data_center"


class ImportPhase(StrEnum):
    """Where an import job stands: reading a tracker's issues (a pull), writing the rows, embedding the new text."""

    reading = "reading"
    importing = "importing"
    indexing = "indexing"


class JobStatus(StrEnum):
    """queued -> running -> done | failed; cancelled (by a person, from queued or running) is final too."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


UNFINISHED = (JobStatus.queued, JobStatus.running)
FINISHED = (JobStatus.done, JobStatus.failed, JobStatus.cancelled)


PRIORITY_LEVELS = ("Highest", "High", "Medium", "Low", "Lowest")  # an item's priority, Jira's names, highest first


class ViewTab(StrEnum):
    """Where a saved view applies: the review queue's filters or the backlog's."""

    review = "review"
    backlog = "backlog"


class MailEvery(StrEnum):
    """How often a person's unread inbox lines may be mailed: each message after the delay (`soon`), or at most one an
    hour or a day, gathering what came meanwhile."""

    soon = "soon"
    hourly = "hourly"
    daily = "daily"


class Role(StrEnum):
    """A member's role in a project, weakest first: each role may do everything the roles before it may."""

    viewer = "viewer"  # read
    reviewer = "reviewer"  # draft, upload, accept, reject
    admin = "admin"  # members, strategy, settings, import, delete

    @property
    def rank(self) -> int:
        return list(Role).index(self)


DEFAULT_PROJECT = "default"  # the project today's routes act on; a database from before projects becomes it
