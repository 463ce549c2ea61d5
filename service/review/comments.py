"""Comments on suggestions: a person's remarks (a question to the team, why a suggestion is held), on a suggestion of
any status. A comment decides nothing and changes nothing, so the suggestion's history does not list it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core import outbox
from service.core.enums import WebhookEvent
from service.core.errors import Forbidden, NotFound
from service.core.suggestions import get_suggestion
from service.core.tables import Comment


def list_comments(session: Session, suggestion_id: int) -> list[Comment]:
    """A suggestion's comments, oldest first."""
    get_suggestion(session, suggestion_id)
    query = select(Comment).where(Comment.suggestion_id == suggestion_id).order_by(Comment.id)
    return list(session.scalars(query))


def add_comment(session: Session, suggestion_id: int, author: str | None, text: str) -> Comment:
    get_suggestion(session, suggestion_id)
    comment = Comment(suggestion_id=suggestion_id, author=author, text=text)
    session.add(comment)
    session.flush()
    outbox.queue(session, WebhookEvent.comment_created, suggestion_id, author, comment.id)
    return comment


def delete_comment(session: Session, suggestion_id: int, comment_id: int, actor: str | None, anyones: bool) -> None:
    """Delete a comment: one's own, or anyone's where `anyones` (an admin; everyone while accounts are off)."""
    comment = session.get(Comment, comment_id)
    if comment is None or comment.suggestion_id != suggestion_id:
        raise NotFound(f"suggestion {suggestion_id} has no comment {comment_id}")
    if not anyones and comment.author != actor:
        raise Forbidden(
            f"comment {comment_id} is {comment.author or 'someone else'}'s: only they or an admin delete it"
        )
    session.delete(comment)
