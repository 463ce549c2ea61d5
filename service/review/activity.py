"""What people did in a project, newest first: decisions on suggestions (accepted, with edits or not, rejected,
undone), assignments, regenerated drafts, comments (on suggestions and on backlog items) and each one's last edit,
and their own edits of backlog items (with re-imports that took a tracker's changes). What the AI made is not listed:
the review queue is where that waits."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from service.core.enums import ItemAction, SuggestionAction
from service.core.summaries import one_line, summary
from service.core.tables import BacklogItem, Comment, ItemEvent, Suggestion, SuggestionEvent
from service.review.schemas import ActivityPublic

SHOWN_TEXT = 200  # of a comment or a reason


def _cut(text: str | None) -> str | None:
    return one_line(text, SHOWN_TEXT) if text else None


class Cursor(NamedTuple):
    """Where a page of activity ended: its last line's time, source and row id. Lines are ordered by time, then source,
    then id, newest first, so lines stored in the same microsecond (a bulk edit's) are neither skipped nor repeated."""

    at: datetime
    source: int  # DECISION, COMMENT, EDIT or COMMENT_EDIT
    row: int

    def __str__(self) -> str:
        return f"{self.at.isoformat()}~{self.source}~{self.row}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """A cursor from its text; ValueError when it is not one."""
        at, source, row = text.split("~")
        return cls(datetime.fromisoformat(at), int(source), int(row))


# each line's source, in the order ties in time are shown (newest first: COMMENT_EDIT first)
DECISION, COMMENT, EDIT, COMMENT_EDIT = 0, 1, 2, 3


def _older(at: ColumnElement, row: ColumnElement, source: int, after: Cursor) -> ColumnElement[bool]:
    """The rows of `source` that come after `after` in the order above."""
    if source < after.source:
        return at <= after.at
    if source > after.source:
        return at < after.at
    return or_(at < after.at, and_(at == after.at, row < after.row))


def _newest(
    query: Select, at: ColumnElement, row: ColumnElement, source: int, after: Cursor | None, limit: int
) -> Select:
    return (query.where(_older(at, row, source, after)) if after else query).order_by(row.desc()).limit(limit)


def activity(
    session: Session, limit: int = 50, before: datetime | None = None, actor: str | None = None,
    after: Cursor | None = None,
) -> list[ActivityPublic]:  # fmt: skip
    """The `limit` newest things people did in the current project, after the line `after` (each line's `cursor`) or
    before the time `before` (all, when neither), by `actor` when given (a decision made with no name is nobody's)."""
    after = after or (Cursor(before, -1, 0) if before else None)  # a time alone: everything strictly before it
    decisions = select(SuggestionEvent).where(SuggestionEvent.action != SuggestionAction.created)
    comments = (
        select(Comment, Suggestion, BacklogItem)
        .outerjoin(Suggestion, Suggestion.id == Comment.suggestion_id)
        .outerjoin(BacklogItem, BacklogItem.id == Comment.item_id)
    )  # a comment is in a suggestion's thread or an item's
    edits = select(ItemEvent, BacklogItem).join(BacklogItem, BacklogItem.id == ItemEvent.item_id)
    if actor is not None:
        decisions = decisions.where(SuggestionEvent.actor == actor)
        comments = comments.where(Comment.author == actor)
        edits = edits.where(ItemEvent.actor == actor)
    found: list[ActivityPublic] = []
    newest = _newest(decisions, SuggestionEvent.at, SuggestionEvent.id, DECISION, after, limit)
    for event, suggestion in _in_this_project(session, newest, limit):
        found.append(
            ActivityPublic(
                at=event.at,
                cursor=str(Cursor(event.at, DECISION, event.id)),
                actor=event.actor,
                action=event.action,
                suggestion_id=suggestion.id,
                kind=suggestion.kind,
                subject=summary(suggestion),
                detail=_decision_detail(event, suggestion),
            )
        )
    edited = comments.where(Comment.edited_at.is_not(None))  # its last edit: by its author, here or in the tracker
    edited = (edited.where(_older(Comment.edited_at, Comment.id, COMMENT_EDIT, after)) if after else edited).order_by(
        Comment.edited_at.desc(), Comment.id.desc()
    )
    written = _newest(comments, Comment.at, Comment.id, COMMENT, after, limit)
    sources = ((COMMENT, written, "commented"), (COMMENT_EDIT, edited.limit(limit), "edited_comment"))
    for source, query, action in sources:
        for comment, suggestion, item in session.execute(query):
            at = comment.at if source == COMMENT else comment.edited_at
            found.append(
                ActivityPublic(
                    at=at,
                    cursor=str(Cursor(at, source, comment.id)),
                    actor=comment.author,
                    action=action,
                    detail=_cut(comment.text),
                    **_on(suggestion, item),
                )
            )
    for event, item in session.execute(_newest(edits, ItemEvent.at, ItemEvent.id, EDIT, after, limit)):
        changed = ", ".join(sorted(event.after)) if event.action != ItemAction.added else None
        if event.action == ItemAction.sent:  # the issue it is in the tracker
            changed = (event.after.get("external_id") or event.after.get("sent") or "").split(":", 1)[-1]
        if event.action == ItemAction.ranked:
            changed = _rank_detail(event)
        found.append(
            ActivityPublic(
                at=event.at,
                cursor=str(Cursor(event.at, EDIT, event.id)),
                actor=event.actor,
                action=event.action,
                item_id=item.id,
                subject=item.title,
                detail=changed,
            )
        )
    return sorted(found, key=lambda a: Cursor.parse(a.cursor), reverse=True)[:limit]


def _on(suggestion: Suggestion | None, item: BacklogItem | None) -> dict[str, Any]:
    """What a comment's line is about: its suggestion, or its item."""
    if suggestion is not None:
        return {"suggestion_id": suggestion.id, "kind": suggestion.kind, "subject": summary(suggestion)}
    return {"item_id": item.id, "subject": item.title} if item is not None else {"subject": ""}


def _in_this_project(session: Session, newest: Select, limit: int) -> list[tuple[SuggestionEvent, Suggestion]]:
    """The first `limit` events of `newest` (events of every project, newest first) whose suggestion is in the current
    project, each with it. A page of events is read at a time, then their suggestions: joined in one query, SQLite
    reads the project's suggestions first and sorts all their events (a tenth of a second at 100,000)."""
    found: list[tuple[SuggestionEvent, Suggestion]] = []
    query = newest
    while len(found) < limit:
        events = list(session.scalars(query))
        if not events:
            break
        wanted = {event.suggestion_id for event in events}
        here = {s.id: s for s in session.scalars(select(Suggestion).where(Suggestion.id.in_(wanted)))}
        found += [(event, here[event.suggestion_id]) for event in events if event.suggestion_id in here]
        query = newest.where(SuggestionEvent.id < events[-1].id)
    return found[:limit]


def _rank_detail(event: ItemEvent) -> str:
    """Where a person put an item in the order: "to place 1 (was 7)", or back to its score's place."""
    now, was = event.after.get("rank"), event.before.get("rank")
    where = f"to place {now}" if event.after.get("by_hand") else f"back to its score's place ({now})"
    return where + (f" (was {was})" if was is not None and was != now else "")


def _decision_detail(event: SuggestionEvent, suggestion: Suggestion) -> str | None:
    """What a decision's line adds: whom it was assigned to, the reason of a rejection (as it was given; one recorded
    before 2026-11-28's third stop, as the suggestion has it now)."""
    if event.action == SuggestionAction.assigned:
        return f"to {(event.after or {}).get('assignee') or 'no one'}"
    if event.action == SuggestionAction.rejected:
        return _cut((event.after or {}).get("reason", suggestion.reason))
    return None
