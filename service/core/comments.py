"""Comments: a person's remarks in a thread, a suggestion's (a question to the team, why it is held; any status) or a
backlog item's (an answer to an open question, what refinement settled). A comment decides nothing and changes
nothing, so no history lists it; it is an event (`comment.created`, `comment.updated` when its author edits it) for
webhooks and inboxes."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from service.core import outbox
from service.core.enums import WebhookEvent
from service.core.errors import Conflict, Forbidden, NotFound
from service.core.suggestions import get_suggestion
from service.core.tables import BacklogItem, Comment, CommentRemoval, Suggestion, sent_where, utcnow

PERHAPS = "?"  # the comment id of an item's comment whose post's answer was lost: "jira:SHOP-3@?" (perhaps posted)


def posted_text(author: str | None, text: str) -> str:
    """An item's comment as a push posts it on the issue: who wrote it, and where, then its text as written."""
    return f"{author or 'Someone'} commented in Refinery:\n\n{text}"


class Thread(NamedTuple):
    """Where comments are: a suggestion's thread or a backlog item's (exactly one of the two ids)."""

    suggestion_id: int | None = None
    item_id: int | None = None

    def __str__(self) -> str:
        return f"suggestion {self.suggestion_id}" if self.suggestion_id is not None else f"backlog item {self.item_id}"

    def of(self, table: Any = Comment) -> ColumnElement[bool]:
        """The rows of `table` about this thread (a WHERE clause): its comments; its inbox lines or subscriptions."""
        if self.suggestion_id is not None:
            return table.suggestion_id == self.suggestion_id
        return table.item_id == self.item_id

    def get(self, session: Session) -> Suggestion | BacklogItem:
        """The suggestion or item the thread is on; NotFound when there is none (in this project)."""
        if self.suggestion_id is not None:
            return get_suggestion(session, self.suggestion_id)
        item = session.get(BacklogItem, self.item_id)
        if item is None:
            raise NotFound(f"no backlog item with id {self.item_id}")
        return item


def list_comments(session: Session, thread: Thread) -> list[Comment]:
    """A thread's comments, oldest first."""
    thread.get(session)
    return list(session.scalars(select(Comment).where(thread.of()).order_by(Comment.id)))


def item_threads(session: Session, item_ids: list[int]) -> dict[int, list[Comment]]:
    """The items' comments, oldest first, by item (read 500 items at a time)."""
    found: dict[int, list[Comment]] = {}
    for start in range(0, len(item_ids), 500):
        query = select(Comment).where(Comment.item_id.in_(item_ids[start : start + 500])).order_by(Comment.id)
        for comment in session.scalars(query):
            found.setdefault(comment.item_id, []).append(comment)
    return found


def add_comment(session: Session, thread: Thread, author: str | None, text: str) -> Comment:
    thread.get(session)
    comment = Comment(suggestion_id=thread.suggestion_id, item_id=thread.item_id, author=author, text=text)
    session.add(comment)
    session.flush()
    outbox.queue(session, WebhookEvent.comment_created, thread.suggestion_id, author, comment.id, thread.item_id)
    return comment


def get_comment(session: Session, thread: Thread, comment_id: int, changing: str | None = None) -> Comment:
    """The thread's comment `comment_id`; NotFound when the thread has none such. Conflict when it is to be changed
    (`changing`: "edit", "delete") and was written in the tracker: there is where it changes (a pull brings it)."""
    comment = session.get(Comment, comment_id)
    if comment is None or (comment.suggestion_id, comment.item_id) != thread:
        raise NotFound(f"{thread} has no comment {comment_id}")
    if changing and comment.from_tracker:
        raise Conflict(
            f"comment {comment_id} was written on {sent_where(comment.sent_as or '')[1]} in the tracker, not here: "
            f"{changing} it there; the next pull brings the change"
        )
    return comment


def edit_comment(
    session: Session, thread: Thread, comment_id: int, actor: str | None, text: str, anyones: bool
) -> Comment:
    """Change a comment's text: one's own, or anyone's where `anyones` (while accounts are off; an admin deletes what
    others wrote but does not put words in their mouths). Its new `@names` are told; its followers are not told again.
    An item's comment a push posted is updated there by the next push."""
    comment = get_comment(session, thread, comment_id, "edit")
    if not anyones and comment.author != actor:
        raise Forbidden(f"comment {comment_id} is {comment.author or 'someone else'}'s: only they edit it")
    if text != comment.text:
        mentioned = tuple(comment.mentions)
        comment.text, comment.edited_at = text, utcnow()
        session.flush()
        outbox.queue_comment_edit(session, comment, actor, mentioned)
    return comment


def delete_comment(session: Session, thread: Thread, comment_id: int, actor: str | None, anyones: bool) -> None:
    """Delete a comment: one's own, or anyone's where `anyones` (an admin; everyone while accounts are off). One a push
    posted on its item's issue is deleted there by the next push."""
    comment = get_comment(session, thread, comment_id, "delete")
    if not anyones and comment.author != actor:
        raise Forbidden(
            f"comment {comment_id} is {comment.author or 'someone else'}'s: only they or an admin delete it"
        )
    if comment.item_id is not None and comment.sent_as:  # posted there (or perhaps): deleted there by the next push
        said = posted_text(comment.author, comment.text)
        session.add(CommentRemoval(item_id=comment.item_id, sent_as=comment.sent_as, text=said))
    session.delete(comment)
