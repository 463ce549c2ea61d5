"""People's inboxes: what another person did that concerns them, written in the transaction that did it.

The events are the outbox's (`service.core.outbox` queues them on the session; at commit it hands them here too):
- a comment tells those it mentions (`@bo`) and the followers of its suggestion or backlog item; its author's edit
  tells only those it mentions now and did not before;
- a suggestion given to someone tells them;
- a decision on a suggestion (accepted, rejected, undone) tells its followers;
- a person's edit of a backlog item (alone or in a bulk edit) tells the item's followers, naming the fields.
A suggestion's followers: the person it is given to, everyone in its thread, and those watching it (`Subscription`),
less those who muted it. A mention and an assignment reach a person who muted it all the same. A backlog item's
followers: everyone in its thread and those watching it, less those who muted it.

No one is told of what they did themselves, and a person gets one line an event (the strongest reason). Once accounts
are on, only the project's members are told: a mention of anyone else is a name in the text, nothing more."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.enums import NotificationReason, WebhookEvent
from service.core.summaries import one_line, summary
from service.core.tables import (
    BacklogItem,
    Comment,
    Membership,
    Notification,
    Subscription,
    Suggestion,
    User,
    sent_where,
)


class Queued(Protocol):
    """What this reads of an event the outbox queued (`service.core.outbox.Queued`)."""

    event: WebhookEvent
    suggestion_id: int | None
    actor: str | None
    comment_id: int | None
    item_id: int | None
    changed: dict[str, Any] | None
    mentioned_before: tuple[str, ...]


SHOWN_TEXT = 300  # of a comment or a rejection's reason, in its line
SHOWN_TITLE = 100  # of a backlog item's title
DECIDED = {
    WebhookEvent.suggestion_accepted: "accepted",
    WebhookEvent.suggestion_rejected: "rejected",
    WebhookEvent.suggestion_reopened: "undid the decision on",
}
COMMENTED = (WebhookEvent.comment_created, WebhookEvent.comment_updated)
ON_ITEMS = (*COMMENTED, WebhookEvent.item_updated)  # an item's events that concern people
TRACKER_NAMES = {"jira": "Jira", "github": "GitHub", "linear": "Linear"}  # by the prefix of a comment's `sent_as`
FIELD_WORDS = {"item_type": "type", "story_points": "points", "depends_on": "dependencies", "parent_id": "parent"}


def write(session: Session, events: Iterable[Queued]) -> list[Notification]:
    """Add the inbox lines of this transaction's events; the lines made (with their ids)."""
    made: list[Notification] = []
    accounts: bool | None = None  # accounts are on: read once, at the first event that tells anyone
    events = list(events)
    followed = _followed_items(session, [q.item_id for q in events if q.event == WebhookEvent.item_updated])
    for queued in events:
        if queued.event == WebhookEvent.item_updated and queued.item_id not in followed:
            continue  # no one follows it: nothing to look up (a bulk edit's items, mostly)
        about = _about(session, queued)
        if about is None:
            continue
        comment = session.get(Comment, queued.comment_id) if queued.comment_id else None
        told = _recipients(session, queued, about, comment)
        told.pop(queued.actor or "", None)
        if accounts is None:
            accounts = session.scalar(select(User.id).limit(1)) is not None
        members = _members(session, about.project_id, told) if accounts else None
        on_item = isinstance(about, BacklogItem)
        made += [
            Notification(
                project_id=about.project_id,
                recipient=recipient,
                reason=reason,
                suggestion_id=None if on_item else about.id,
                item_id=about.id if on_item else None,
                comment_id=comment.id if comment else None,
                actor=queued.actor,
                text=line(reason, queued, about, comment, recipient),
            )
            for recipient, reason in told.items()
            if members is None or recipient in members
        ]
    if made:
        session.add_all(made)
        session.flush()
    return made


def _about(session: Session, queued: Queued) -> Suggestion | BacklogItem | None:
    """What the event is about, when it concerns people: a suggestion (a comment, an assignment, a decision) or a
    backlog item (a comment in its thread, a person's edit)."""
    if queued.item_id is not None:
        return session.get(BacklogItem, queued.item_id) if queued.event in ON_ITEMS else None
    if queued.suggestion_id is None or not _concerns_people(queued.event):
        return None
    return session.get(Suggestion, queued.suggestion_id)


def _concerns_people(event: WebhookEvent) -> bool:
    return event in DECIDED or event in COMMENTED or event == WebhookEvent.suggestion_assigned


def _recipients(
    session: Session, queued: Queued, about: Suggestion | BacklogItem, comment: Comment | None
) -> dict[str, NotificationReason]:
    """Who is told, each with the strongest reason, in the order they are named."""
    told: dict[str, NotificationReason] = {}
    if queued.event in COMMENTED and comment is not None:
        for name in [] if comment.from_tracker else comment.mentions:  # a tracker's @names are its people's
            if name not in queued.mentioned_before:
                told.setdefault(name, NotificationReason.mentioned)
        if queued.event == WebhookEvent.comment_created:
            for name in followers(session, about, before=comment.id):
                told.setdefault(name, NotificationReason.commented)
    elif isinstance(about, BacklogItem):
        if queued.event == WebhookEvent.item_updated:
            told = dict.fromkeys(followers(session, about), NotificationReason.edited)
    elif queued.event == WebhookEvent.suggestion_assigned and about.assignee:
        told[about.assignee] = NotificationReason.assigned
    elif queued.event in DECIDED:
        told = dict.fromkeys(followers(session, about), NotificationReason.decided)
    return told


def followers(session: Session, about: Suggestion | BacklogItem, before: int | None = None) -> list[str]:
    """Who follows a suggestion: the person it is given to, its thread's authors (those of comments before the one
    `before`, when given), and those watching it; less those who muted it; each once, in that order. A backlog item's
    likewise, less the assignee (it has none)."""
    on_item = isinstance(about, BacklogItem)
    in_thread = (Comment.item_id if on_item else Comment.suggestion_id) == about.id
    chosen_here = (Subscription.item_id if on_item else Subscription.suggestion_id) == about.id
    thread = select(Comment.author).where(in_thread, Comment.author.is_not(None))
    if before is not None:
        thread = thread.where(Comment.id < before)
    chose = dict(session.execute(select(Subscription.person, Subscription.watching).where(chosen_here)).all())
    given = [] if on_item else [about.assignee]
    named = [*given, *session.scalars(thread.order_by(Comment.id)), *(p for p, w in chose.items() if w)]
    return [name for name in dict.fromkeys(named) if name and chose.get(name, True)]


def _followed_items(session: Session, item_ids: list[int | None]) -> set[int]:
    """Those of the items someone may follow (a comment with an author in its thread, or someone watching it), read
    for all at once."""
    ids = [i for i in item_ids if i is not None]
    if not ids:
        return set()
    authored = select(Comment.item_id).where(Comment.item_id.in_(ids), Comment.author.is_not(None))
    watched = select(Subscription.item_id).where(Subscription.item_id.in_(ids), Subscription.watching.is_(True))
    return set(session.scalars(authored)) | set(session.scalars(watched))


def _members(session: Session, project_id: int, names: Iterable[str]) -> set[str]:
    """Which of `names` are members of the project (once accounts are on; before, anyone may be told)."""
    query = (
        select(User.name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id, User.name.in_(list(names)))
    )
    return set(session.scalars(query))


def line(
    reason: NotificationReason,
    queued: Queued,
    about: Suggestion | BacklogItem,
    comment: Comment | None,
    recipient: str,
) -> str:
    """The inbox's line: who did what to which suggestion or item, and what a comment said."""
    who = queued.actor or "Someone"
    if isinstance(about, BacklogItem):
        subject = f"item #{about.id} ({one_line(about.title, SHOWN_TITLE)})"
    else:
        subject = f"{about.kind.replace('_', ' ')} #{about.id} ({summary(about)})"
    if comment is not None:
        verb = "mentioned you on" if reason == NotificationReason.mentioned else "commented on"
        if comment.from_tracker:  # read by a pull: it names no one here
            verb = f"commented in {TRACKER_NAMES.get(sent_where(comment.sent_as or '')[0], 'the tracker')} on"
        return f"{who} {verb} {subject}: {one_line(comment.text, SHOWN_TEXT)}"
    if isinstance(about, BacklogItem):  # an edit
        changed = queued.changed or {}
        words = [("closed" if value else "reopened") if name == "closed" else FIELD_WORDS.get(name, name)
                 for name, value in changed.items()]  # fmt: skip
        return f"{who} edited {subject}: {', '.join(words)}"
    suggestion = about
    if reason == NotificationReason.assigned:
        return f"{who} gave you {subject} to decide"
    given = ", given to you" if suggestion.assignee == recipient else ""
    why = (
        f": {one_line(suggestion.reason, SHOWN_TEXT)}"
        if queued.event == WebhookEvent.suggestion_rejected and suggestion.reason
        else ""
    )
    return f"{who} {DECIDED[queued.event]} {subject}{given}{why}"
