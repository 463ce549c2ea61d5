"""Reading a person's inbox, marking its lines read, and the suggestions and item threads they watch or muted."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core import scope
from service.core.comments import Thread
from service.core.errors import Conflict, InvalidInput
from service.core.notifications import followers
from service.core.tables import Notification, Subscription, utcnow

NO_ONE = (
    "say whose inbox: sign in, or name yourself (the X-User header; the desk's name box; `refinery inbox --as NAME`)"
)


def whose(name: str | None) -> str:
    """The person an inbox request is for; refused when no one is named."""
    if not name:
        raise InvalidInput(NO_ONE)
    return name


def list_inbox(
    session: Session, recipient: str, unread: bool = False, limit: int = 50, after: int | None = None
) -> list[Notification]:
    """The person's lines in the current project, newest first; after the line `after` (the next page)."""
    query = select(Notification).where(Notification.recipient == recipient)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if after is not None:
        query = query.where(Notification.id < after)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def count_unread(session: Session, recipient: str) -> int:
    query = select(func.count(Notification.id)).where(
        Notification.recipient == recipient, Notification.read_at.is_(None)
    )
    return session.scalar(query) or 0


def mark(
    session: Session,
    recipient: str,
    ids: list[int] | None,
    read: bool = True,
    suggestion_id: int | None = None,
    item_id: int | None = None,
) -> int:
    """Mark the person's lines `ids`, or those about `suggestion_id` or `item_id`, or all of them (none of these),
    read or unread; how many changed. Another person's lines and ids that are not lines are left alone."""
    query = update(Notification).where(Notification.recipient == recipient)
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    if suggestion_id is not None:
        query = query.where(Notification.suggestion_id == suggestion_id)
    if item_id is not None:
        query = query.where(Notification.item_id == item_id)
    query = query.where(Notification.read_at.is_(None) if read else Notification.read_at.is_not(None))
    changed = session.execute(
        query.values(read_at=utcnow() if read else None), execution_options={"synchronize_session": False}
    )
    return changed.rowcount or 0


def unread_by_project(session: Session, recipient: str) -> dict[int, int]:
    """How many unread lines the person has in each project (by id; projects with none are left out)."""
    query = (
        select(Notification.project_id, func.count(Notification.id))
        .where(Notification.recipient == recipient, Notification.read_at.is_(None))
        .group_by(Notification.project_id)
    )
    with scope.every_project():
        return {project_id: count for project_id, count in session.execute(query)}


def subscription(session: Session, person: str, thread: Thread) -> tuple[bool, str]:
    """Whether the person follows a suggestion (is told of its comments and decisions) or an item's thread (of its
    comments), and why: given to them, in its thread, watching it, muted, or none of these."""
    about = thread.get(session)
    chose = _choice(session, person, thread)
    if chose is not None and not chose.watching:
        return False, "muted"
    if person not in followers(session, about):
        given = "" if thread.item_id else "not given to you, "
        return False, f"{given}not in its thread, not watching"
    if getattr(about, "assignee", None) == person:
        return True, "given to you"
    return True, "watching" if chose is not None else "in its thread"


def subscribe(session: Session, person: str, thread: Thread, watching: bool | None) -> tuple[bool, str]:
    """Watch the suggestion or item (True), mute it (False), or follow it as its assignment and thread say (None)."""
    thread.get(session)
    chose = _choice(session, person, thread)
    if watching is None:
        if chose is not None:
            session.delete(chose)
    elif chose is None:
        session.add(Subscription(**thread._asdict(), person=person, watching=watching))
    else:
        chose.watching, chose.at = watching, utcnow()
    try:
        session.flush()
    except IntegrityError as exc:  # the same person chose at the same moment elsewhere (another tab)
        raise Conflict(f"your choice on {thread} changed just now: ask again") from exc
    return subscription(session, person, thread)


def _choice(session: Session, person: str, thread: Thread) -> Subscription | None:
    return session.scalar(select(Subscription).where(thread.of(Subscription), Subscription.person == person))
