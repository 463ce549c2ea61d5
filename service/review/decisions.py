"""A person's decision on a suggestion: accept (maybe with edits) or reject, dispatched by kind.

Nothing becomes a backlog item without a person accepting it. Each kind names its handler here: what accepting it
does to the backlog, which edits it takes, and how the duplicate index follows the decision. The decision is
committed first; the index follows (a failure there is logged and `refinery reindex` repairs it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.models import StoryDraftEdits
from pipelines.prioritization import InputEdits
from service import duplicates
from service.accounts import can_decide
from service.conversations import service as conversations
from service.core import suggestions
from service.core.enums import SuggestionAction, SuggestionKind, SuggestionStatus
from service.core.errors import Conflict, DomainError, InvalidInput
from service.core.runtime import Runtime
from service.core.suggestions import claim, ensure_pending, get_suggestion, record_event, reopen
from service.core.tables import BacklogItem, Suggestion, SuggestionEvent
from service.drafting.service import accept_draft, undo_draft
from service.ingest.evidence import accept_evidence
from service.prioritization.service import accept_priority, accept_sprint_plan
from service.refinement import service as refinement

log = logging.getLogger(__name__)
Accept = Callable[[Session, Suggestion, Any, str | None], BacklogItem | None]
Follow = Callable[[Runtime, Suggestion, BacklogItem | None], None]
EditsField = Literal["edits", "input_edits", "points"]
Undo = Callable[[Session, Suggestion], None]
Reopened = Callable[[Runtime, Suggestion, int | None], None]


def _unchanged(_runtime: Runtime, _suggestion: Suggestion, _item: BacklogItem | None) -> None:
    """The index holds nothing this kind of decision changes."""


def _no_key(_suggestion: Suggestion) -> str | None:
    return None


@dataclass(frozen=True)
class Handler:
    accept: Accept
    edits: EditsField | None = None  # which of the accept request's edit fields this kind takes
    follow: Follow = _unchanged  # keeps the duplicate index in step once the decision is committed
    undo: Undo | None = None  # reverts what accepting did to the backlog (Conflict when it cannot); None: it can't
    reopened: Reopened = _unchanged  # keeps the index in step once a decision is undone
    pending_key: Callable[[Suggestion], str | None] = _no_key  # the key the kind holds while pending


HANDLERS: dict[SuggestionKind, Handler] = {
    SuggestionKind.story_draft: Handler(
        accept_draft, "edits", duplicates.draft_decided, undo_draft, duplicates.draft_reopened
    ),
    SuggestionKind.merge: Handler(duplicates.accept_merge, None, duplicates.merge_decided),
    SuggestionKind.evidence: Handler(accept_evidence),
    SuggestionKind.priority: Handler(accept_priority, "input_edits"),
    SuggestionKind.sprint_plan: Handler(accept_sprint_plan),
    SuggestionKind.rewrite: Handler(
        refinement.accept_rewrite,
        "edits",
        refinement.item_changed,
        refinement.undo_rewrite,
        refinement.reverted,
        refinement.pending_key,
    ),
    SuggestionKind.split: Handler(
        refinement.accept_split,
        None,
        refinement.item_changed,
        refinement.undo_split,
        refinement.reverted,
        refinement.pending_key,
    ),
    SuggestionKind.estimate: Handler(
        refinement.accept_estimate, "points", undo=refinement.undo_estimate, pending_key=refinement.pending_key
    ),
    SuggestionKind.labels: Handler(
        refinement.accept_labels, "edits", undo=refinement.undo_labels, pending_key=refinement.pending_key
    ),
    SuggestionKind.decision: Handler(conversations.accept_note),
    SuggestionKind.action_item: Handler(conversations.accept_note),
    SuggestionKind.item_change: Handler(conversations.accept_item_change, None, conversations.changed_item),
}
EDIT_HINTS = {
    "edits": "a story draft's fields (title, persona, goal, ...), or the labels a labels suggestion adds",
    "input_edits": "a priority suggestion's estimated inputs (reach, impact, effort, ...)",
    "points": "an estimate's story points (the points the reviewer settled on instead)",
}


def _in_step(keep: Callable[[], None], suggestion: Suggestion) -> None:
    """Keep the duplicate index in step with a decision (or its undoing) already committed."""
    try:
        keep()
    except Exception:  # the decision is stored; `refinery reindex` repairs the index
        log.exception("could not update the duplicate index after deciding suggestion %s", suggestion.id)


def accept(
    runtime: Runtime,
    suggestion_id: int,
    edits: StoryDraftEdits | None = None,
    input_edits: InputEdits | None = None,
    actor: str | None = None,
    points: int | None = None,
) -> BacklogItem | None:
    """Accept a pending suggestion with the reviewer's edits, if its kind takes them. Returns the backlog item it
    created or changed (a story draft's new item, a merge's kept item, ...), or None (a sprint plan)."""
    given: dict[EditsField, Any] = {"edits": edits, "input_edits": input_edits, "points": points}
    with runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        handler = HANDLERS[SuggestionKind(suggestion.kind)]
        for name, value in given.items():
            if value is not None and name != handler.edits:
                takes = f"it takes {handler.edits}" if handler.edits else "it has nothing to edit; accept or reject it"
                raise InvalidInput(f"{name} apply to {EDIT_HINTS[name]}; this is a {suggestion.kind}: {takes}")
        ensure_pending(suggestion)
        item = handler.accept(session, suggestion, given[handler.edits] if handler.edits else None, actor)
    _in_step(lambda: handler.follow(runtime, suggestion, item), suggestion)
    return item


def decide_many(ids: list[int], decide: Callable[[int], Any]) -> tuple[list[int], list[tuple[int, DomainError]]]:
    """`decide` each suggestion in turn, each decision committed on its own: the ids decided, and those refused
    with the refusal (already decided, unknown, stale, ...). An id given twice is decided once."""
    decided, refused = [], []
    for suggestion_id in dict.fromkeys(ids):
        try:
            decide(suggestion_id)
        except DomainError as exc:
            refused.append((suggestion_id, exc))
        else:
            decided.append(suggestion_id)
    return decided, refused


def assign(runtime: Runtime, suggestion_id: int, assignee: str | None, actor: str | None = None) -> Suggestion:
    """Give an undecided suggestion to a person to decide, or to no one (None). With accounts on, only to a reviewer
    or admin of the project."""
    with runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        if assignee is not None and not can_decide(session, assignee):
            raise InvalidInput(
                f"{assignee!r} may not decide suggestions in this project: assign it to a reviewer or an admin "
                "(`refinery user list` shows them)"
            )
        suggestions.assign(session, suggestion, assignee, actor)
        return suggestion


def reject(runtime: Runtime, suggestion_id: int, reason: str, actor: str | None = None) -> Suggestion:
    """Reject a pending suggestion, keeping the reason."""
    with runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        claim(session, suggestion, SuggestionStatus.rejected, actor, reason)
        record_event(session, suggestion.id, SuggestionAction.rejected, actor, suggestion.payload, {"reason": reason})
    _in_step(lambda: HANDLERS[SuggestionKind(suggestion.kind)].follow(runtime, suggestion, None), suggestion)
    return suggestion


UNDONE = (SuggestionStatus.accepted, SuggestionStatus.rejected)


def undo(runtime: Runtime, suggestion_id: int, actor: str | None = None) -> Suggestion:
    """Undo a decision: the suggestion is pending again. A rejection is always undone; an acceptance where its kind
    can revert what it did to the backlog exactly (a draft's new item or a split's children deleted, a rewritten
    item's text or an estimate's points restored) and nothing has built on it since; otherwise Conflict, saying what
    to do instead."""
    with runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        handler = HANDLERS[SuggestionKind(suggestion.kind)]
        if suggestion.status not in UNDONE:
            raise Conflict(f"suggestion {suggestion.id} is {suggestion.status}: only a decision can be undone")
        item_id = suggestion.backlog_item_id
        last = session.scalars(
            select(SuggestionEvent)
            .where(SuggestionEvent.suggestion_id == suggestion.id)
            .order_by(SuggestionEvent.id.desc())
            .limit(1)
        ).first()
        if last is not None and last.action == SuggestionAction.merged:
            raise Conflict(
                f"suggestion {suggestion.id} was merged into a backlog item by accepting a merge, which cannot be "
                "undone here: edit that item instead"
            )
        if suggestion.status == SuggestionStatus.accepted:
            if handler.undo is None:
                raise Conflict(
                    f"accepting a {suggestion.kind} cannot be undone here (what it changed may have been built on): "
                    "edit the backlog items it changed instead; the suggestion's history has the values before"
                )
            handler.undo(session, suggestion)
        reopen(session, suggestion, actor, handler.pending_key(suggestion))
    _in_step(lambda: handler.reopened(runtime, suggestion, item_id), suggestion)
    return suggestion
