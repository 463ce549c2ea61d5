"""What people did in a project, newest first: decisions on suggestions (accepted, with edits or not, rejected,
undone), assignments, regenerated drafts, comments, and their own edits of backlog items (with re-imports that took a
tracker's changes). What the AI made is not listed: the review queue is where that waits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.core.enums import ItemAction, SuggestionAction
from service.core.summaries import summary
from service.core.tables import BacklogItem, Comment, ItemEvent, Suggestion, SuggestionEvent
from service.review.schemas import ActivityPublic

SHOWN_TEXT = 200  # of a comment or a reason


def _cut(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_TEXT else text[: SHOWN_TEXT - 1] + "…"


def _newest(query: Select, at: object, event_id: object, before: datetime | None, limit: int) -> Select:
    return (query.where(at < before) if before else query).order_by(event_id.desc()).limit(limit)


def activity(
    session: Session, limit: int = 50, before: datetime | None = None, actor: str | None = None
) -> list[ActivityPublic]:
    """The `limit` newest things people did in the current project before `before` (all, when None), by `actor` when
    given (a decision made with no name is nobody's)."""
    decisions = select(SuggestionEvent).where(SuggestionEvent.action != SuggestionAction.created)
    comments = select(Comment, Suggestion).join(Suggestion, Suggestion.id == Comment.suggestion_id)
    edits = select(ItemEvent, BacklogItem).join(BacklogItem, BacklogItem.id == ItemEvent.item_id)
    if actor is not None:
        decisions = decisions.where(SuggestionEvent.actor == actor)
        comments = comments.where(Comment.author == actor)
        edits = edits.where(ItemEvent.actor == actor)
    found: list[ActivityPublic] = []
    newest = _newest(decisions, SuggestionEvent.at, SuggestionEvent.id, before, limit)
    for event, suggestion in _in_this_project(session, newest, limit):
        found.append(
            ActivityPublic(
                at=event.at,
                actor=event.actor,
                action=event.action,
                suggestion_id=suggestion.id,
                kind=suggestion.kind,
                subject=summary(suggestion),
                detail=_decision_detail(event, suggestion),
            )
        )
    for comment, suggestion in session.execute(_newest(comments, Comment.at, Comment.id, before, limit)):
        found.append(
            ActivityPublic(
                at=comment.at,
                actor=comment.author,
                action="commented",
                suggestion_id=suggestion.id,
                kind=suggestion.kind,
                subject=summary(suggestion),
                detail=_cut(comment.text),
            )
        )
    for event, item in session.execute(_newest(edits, ItemEvent.at, ItemEvent.id, before, limit)):
        changed = ", ".join(sorted(event.after)) if event.action != ItemAction.added else None
        if event.action == ItemAction.sent:  # the issue it is in the tracker
            changed = (event.after.get("external_id") or event.after.get("sent") or "").split(":", 1)[-1]
        found.append(
            ActivityPublic(
                at=event.at, actor=event.actor, action=event.action, item_id=item.id, subject=item.title, detail=changed
            )
        )
    return sorted(found, key=lambda a: a.at, reverse=True)[:limit]


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


def _decision_detail(event: SuggestionEvent, suggestion: Suggestion) -> str | None:
    """What a decision's line adds: whom it was assigned to, the reason of a rejection (as it stands now)."""
    if event.action == SuggestionAction.assigned:
        return f"to {(event.after or {}).get('assignee') or 'no one'}"
    if event.action == SuggestionAction.rejected:
        return _cut(suggestion.reason)
    return None
