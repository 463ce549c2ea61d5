"""Webhook events, written in the transaction that made them (a transactional outbox), and people's inboxes.

Whatever makes an event (a suggestion created, decided, reopened, assigned: `record_event`; a comment; a person's
backlog item added or edited; a job's end; a line written in someone's inbox, by `service.core.notifications`)
queues it on the session; when that transaction commits, each webhook of the row's project that wants the event gets a
`WebhookDelivery` row with the event's body, built from the rows as the transaction leaves them. So an event is sent
only if what it tells of was stored, and is not lost if the process stops before sending: `service.webhooks` sends
the rows, from any process, and retries them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from service.core import notifications
from service.core.enums import SuggestionAction, SuggestionStatus, WebhookEvent
from service.core.summaries import summary
from service.core.tables import (
    BacklogItem,
    Comment,
    Notification,
    Project,
    Suggestion,
    Webhook,
    WebhookDelivery,
    utcnow,
)

QUEUED = "refinery_webhook_events"  # session.info key: the events of the transaction under way

OF_ACTION = {
    SuggestionAction.created: WebhookEvent.suggestion_created,
    SuggestionAction.accepted: WebhookEvent.suggestion_accepted,
    SuggestionAction.accepted_with_edits: WebhookEvent.suggestion_accepted,
    SuggestionAction.rejected: WebhookEvent.suggestion_rejected,
    SuggestionAction.merged: WebhookEvent.suggestion_rejected,  # a draft folded into an item by an accepted merge
    SuggestionAction.reopened: WebhookEvent.suggestion_reopened,
    SuggestionAction.assigned: WebhookEvent.suggestion_assigned,
}  # `regenerated` replaces a pending draft in place: not an event
VERBS = {
    WebhookEvent.suggestion_accepted: "accepted",
    WebhookEvent.suggestion_rejected: "rejected",
    WebhookEvent.suggestion_reopened: "reopened",
}

COMMENT_VERBS = {WebhookEvent.comment_created: "commented on", WebhookEvent.comment_updated: "edited a comment on"}


@dataclass(frozen=True)
class Queued:
    event: WebhookEvent
    suggestion_id: int | None
    actor: str | None
    comment_id: int | None = None
    job: tuple[type[Any], int] | None = None  # a job's table and id
    item_id: int | None = None
    changed: dict[str, Any] | None = None  # an item's fields a person changed, as they are now
    notification: Notification | None = None  # a line just written in someone's inbox
    mentioned_before: tuple[str, ...] = ()  # an edited comment's names before the edit: they were told already
    inbox_only: bool = False  # tells people (their inbox, and so `notification.created`), not the event's webhooks


def queue(
    session: Session,
    what: WebhookEvent,
    suggestion_id: int | None,
    actor: str | None,
    comment_id: int | None = None,
    item_id: int | None = None,
) -> None:
    """Tell the project's webhooks of `what` (about a suggestion, or a comment in an item's thread: `item_id`) once
    this transaction commits."""
    _enqueue(session, Queued(what, suggestion_id, actor, comment_id, item_id=item_id))


def queue_comment_edit(
    session: Session, comment: Comment, actor: str | None, mentioned_before: tuple[str, ...]
) -> None:
    """Tell the project's webhooks that a comment's author changed it (`comment.updated`), and its new `@names`."""
    _enqueue(
        session,
        Queued(
            WebhookEvent.comment_updated, comment.suggestion_id, actor, comment.id, item_id=comment.item_id,
            mentioned_before=mentioned_before,
        ),
    )  # fmt: skip


def queue_tracker_comment(session: Session, comment: Comment) -> None:
    """Tell the followers of a comment's item that it was written in the tracker (a pull read it), once this
    transaction commits; its own event is not sent to webhooks (the tracker tells of its comments itself)."""
    _enqueue(
        session,
        Queued(
            WebhookEvent.comment_created, None, comment.author, comment.id, item_id=comment.item_id, inbox_only=True
        ),
    )


def queue_job_finished(session: Session, table: type[Any], job_id: int, actor: str | None = None) -> None:
    """Tell the project's webhooks that a job ended (done, failed or cancelled) once this transaction commits."""
    _enqueue(session, Queued(WebhookEvent.job_finished, None, actor, job=(table, job_id)))


def queue_item(
    session: Session, what: WebhookEvent, item_id: int, actor: str | None, changed: dict[str, Any] | None = None
) -> None:
    """Tell the project's webhooks that a person added (`item.created`) or edited (`item.updated`, with the fields
    `changed`) a backlog item, once this transaction commits."""
    _enqueue(session, Queued(what, None, actor, item_id=item_id, changed=changed))


def _enqueue(session: Session, queued: Queued) -> None:
    session.info.setdefault(QUEUED, []).append(queued)


def queue_action(session: Session, action: SuggestionAction, suggestion_id: int, actor: str | None) -> None:
    """The webhook event of a suggestion's history event, if it is one."""
    if action in OF_ACTION:
        queue(session, OF_ACTION[action], suggestion_id, actor)


def install(sessions: sessionmaker) -> sessionmaker:
    """Make these sessions write the deliveries of their events when they commit, and forget them on a rollback."""
    event.listen(sessions, "before_commit", _write_events)
    event.listen(sessions, "after_soft_rollback", lambda session, _previous: session.info.pop(QUEUED, None))
    return sessions


def _write_events(session: Session) -> None:
    """The transaction's events become webhook deliveries and inbox lines (service.core.notifications)."""
    events = session.info.pop(QUEUED, [])
    lines = notifications.write(session, events)
    told = [Queued(WebhookEvent.notification_created, n.suggestion_id, n.actor, notification=n) for n in lines]
    _write_deliveries(session, [queued for queued in events if not queued.inbox_only] + told)


def _write_deliveries(session: Session, events: list[Queued]) -> None:
    hooks_of: dict[int, list[Webhook]] = {}  # by project: read once per commit, however many events it made
    for queued in events:
        if queued.job:
            row = session.get(*queued.job, populate_existing=True)
        elif queued.notification is not None:
            row = queued.notification
        elif queued.item_id is not None:
            row = session.get(BacklogItem, queued.item_id)
        else:
            row = session.get(Suggestion, queued.suggestion_id)
        if row is None:
            continue
        if row.project_id not in hooks_of:
            query = select(Webhook).where(Webhook.project_id == row.project_id)
            hooks_of[row.project_id] = list(session.scalars(query))
        wanted = [hook for hook in hooks_of[row.project_id] if queued.event in hook.events]
        if not wanted:
            continue
        project = session.get(Project, row.project_id)
        if queued.job:
            body = job_body(row, queued.actor, project)
        elif queued.notification is not None:
            body = notification_body(row, project)
        else:
            comment = session.get(Comment, queued.comment_id) if queued.comment_id else None
            if queued.item_id is not None:
                body = item_body(queued.event, row, queued.actor, queued.changed or {}, project, comment)
            else:
                body = event_body(queued.event, row, queued.actor, comment, project)
        for hook in wanted:
            session.add(WebhookDelivery(webhook_id=hook.id, project_id=hook.project_id, event=queued.event, body=body))


def _envelope(what: WebhookEvent, actor: str | None, project: Project | None, text: str) -> dict[str, Any]:
    """What every event's body has: the event, when, the project's key, who, and one line for a chat."""
    return {
        "event": what.value,
        "at": utcnow().isoformat(),
        "project": project.key if project else None,
        "actor": actor,
        "text": text,
    }


def notification_body(line: Notification, project: Project | None) -> dict[str, Any]:
    """`notification.created`: a line written in someone's inbox, for a chat to tell that person (`recipient`)."""
    return _envelope(WebhookEvent.notification_created, line.actor, project, f"For {line.recipient}: {line.text}") | {
        "notification": {
            "id": line.id,
            "recipient": line.recipient,
            "reason": line.reason,
            "suggestion_id": line.suggestion_id,
            "item_id": line.item_id,
            "comment_id": line.comment_id,
            "text": line.text,
        },
    }


def job_body(job: Any, actor: str | None, project: Project | None) -> dict[str, Any]:
    """`job.finished`: the job's kind, status and counts (those every job has), and one line for a chat."""
    kind = job.__tablename__.removesuffix("_jobs")
    counts = f"{job.processed} of {job.total} processed" + (f", {job.failed} failed" if job.failed else "")
    return _envelope(
        WebhookEvent.job_finished, actor, project, f"{kind.capitalize()} job {job.id} {job.status}: {counts}"
    ) | {
        "job": {
            "kind": kind,
            "id": job.id,
            "status": job.status,
            "total": job.total,
            "processed": job.processed,
            "failed": job.failed,
            "errors": list(job.errors or [])[-5:],
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        },
    }


def item_body(
    what: WebhookEvent,
    item: BacklogItem,
    actor: str | None,
    changed: dict[str, Any],
    project: Project | None,
    comment: Comment | None = None,
) -> dict[str, Any]:
    """`item.created` / `item.updated` / `comment.created` (or `.updated`) in an item's thread: the item as it now
    stands, the fields a person changed (`changed`, their new values) or the comment, and one line for a chat."""
    who = actor or "someone"
    if what == WebhookEvent.item_created:
        text = f"{who} added item #{item.id}: {item.title}"
    elif comment is not None:
        text = f"{who} {COMMENT_VERBS[what]} item #{item.id} ({item.title}): {comment.text[:300]}"
    else:
        text = f"{who} edited item #{item.id} {item.title}: {', '.join(sorted(changed))}"
    return (
        _envelope(what, actor, project, text)
        | {
            "item": {
                "id": item.id,
                "title": item.title,
                "item_type": item.item_type,
                "labels": list(item.labels or []),
                "priority": item.priority,
                "story_points": item.story_points,
                "parent_id": item.parent_id,
                "depends_on": list(item.depends_on or []),
                "closed": item.closed,
                "external_id": item.external_id,
            },  # fmt: skip
            "changed": changed,
        }
        | _comment_part(comment)
    )


def event_body(
    what: WebhookEvent, suggestion: Suggestion, actor: str | None, comment: Comment | None, project: Project | None
) -> dict[str, Any]:
    """What a receiver is sent: the event, the suggestion as it now stands, the comment if any, and `text`, one line a
    chat's incoming webhook (Slack, Mattermost) shows as it is."""
    kind = suggestion.kind.replace("_", " ")
    said = summary(suggestion)
    who = actor or "someone"
    if what == WebhookEvent.suggestion_created:
        failed = suggestion.status == SuggestionStatus.failed
        text = f"{'Failed' if failed else 'New'} {kind} #{suggestion.id}{'' if failed else ' to review'}: {said}"
    elif what == WebhookEvent.suggestion_assigned:
        text = f"{who} assigned {kind} #{suggestion.id} to {suggestion.assignee or 'no one'}: {said}"
    elif what in COMMENT_VERBS and comment is not None:
        text = f"{who} {COMMENT_VERBS[what]} {kind} #{suggestion.id} ({said}): {comment.text[:300]}"
    else:
        text = f"{who} {VERBS.get(what, what.value)} {kind} #{suggestion.id}: {said}"
        if what == WebhookEvent.suggestion_accepted and suggestion.backlog_item_id:
            text += f" (backlog item #{suggestion.backlog_item_id})"
    body = _envelope(what, actor, project, text) | {
        "suggestion": {
            "id": suggestion.id,
            "kind": suggestion.kind,
            "status": suggestion.status,
            "summary": said,
            "decided_by": suggestion.decided_by,
            "reason": suggestion.reason,
            "backlog_item_id": suggestion.backlog_item_id,
            "assignee": suggestion.assignee,
        },
    }
    return body | _comment_part(comment)


def _comment_part(comment: Comment | None) -> dict[str, Any]:
    """A body's `comment`, when the event is one."""
    if comment is None:
        return {}
    return {
        "comment": {
            "id": comment.id,
            "author": comment.author,
            "text": comment.text,
            "mentions": comment.mentions,
            "at": comment.at.isoformat(),
            "edited_at": comment.edited_at.isoformat() if comment.edited_at else None,
        }
    }
