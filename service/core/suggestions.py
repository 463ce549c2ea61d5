"""The suggestion lifecycle every feature shares: create, read, claim a decision, record history.

pending -> accepted | rejected; failed is terminal. Decisions are compare-and-set on the status row, so two
concurrent accepts cannot both win. What accepting does to the backlog is the kind's business
(`service.review.decisions`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, Text, cast, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pipelines.llm import StructuredResult, describe_validation_error
from pipelines.models import StoryDraft, StoryDraftEdits, story_markdown
from service.core import outbox
from service.core.enums import SuggestionAction, SuggestionKind, SuggestionStatus
from service.core.errors import Conflict, InvalidInput, NotFound
from service.core.tables import BacklogItem, Comment, ItemEvent, Suggestion, SuggestionEvent, utcnow


@dataclass(frozen=True)
class Proposal:
    """What a suggestion proposes and what produced it: a model's result, or a rule's (a detector, a planner)."""

    payload: dict[str, Any] | None
    model: str
    provider: str
    prompt_version: str
    status: SuggestionStatus = SuggestionStatus.pending
    usage: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None

    @classmethod
    def of(cls, result: StructuredResult) -> Proposal:
        """Pending with the value, or failed with the raw output and the reason."""
        record = result.record
        return cls(
            payload=result.value.model_dump(mode="json") if result.ok else {"raw_output": result.raw},
            model=record.model,
            provider=record.provider,
            prompt_version=f"{record.prompt_id}@{record.prompt_version}",
            status=SuggestionStatus.pending if result.ok else SuggestionStatus.failed,
            usage=record.usage(),
            warnings=list(result.warnings),
            reason=result.error,
        )

    def with_payload(self, payload: dict[str, Any]) -> Proposal:
        return replace(self, payload=payload)

    def columns(self) -> dict[str, Any]:
        return {
            "payload": self.payload,
            "model": self.model,
            "provider": self.provider,
            "prompt_version": self.prompt_version,
            "status": self.status,
            "usage": self.usage,
            "warnings": self.warnings,
            "reason": self.reason,
        }


def record_event(
    session: Session, suggestion_id: int, action: SuggestionAction, actor: str | None, before: Any, after: Any
) -> None:
    session.add(SuggestionEvent(suggestion_id=suggestion_id, action=action, actor=actor, before=before, after=after))
    outbox.queue_action(session, action, suggestion_id, actor)


def create_suggestion(
    session: Session,
    kind: SuggestionKind,
    proposal: Proposal,
    inputs: dict[str, Any],
    evidence: dict[str, Any] | None = None,
    actor: str | None = None,
    pending_key: str | None = None,
) -> Suggestion:
    """Store a proposal as a suggestion (pending, or failed with the reason) with its "created" event. One with a
    `pending_key` another suggestion holds raises IntegrityError at the flush."""
    suggestion = Suggestion(kind=kind, input=inputs, evidence=evidence, pending_key=pending_key, **proposal.columns())
    session.add(suggestion)
    session.flush()
    set_committed_value(suggestion, "comment_count", 0)
    record_event(session, suggestion.id, SuggestionAction.created, actor, None, suggestion.payload)
    return suggestion


REGENERABLE = (SuggestionStatus.pending, SuggestionStatus.failed)  # what a proposal made again may replace


def replace_proposal(
    session: Session,
    suggestion: Suggestion,
    proposal: Proposal,
    inputs: dict[str, Any],
    evidence: dict[str, Any] | None,
    actor: str | None,
) -> Suggestion:
    """Put a proposal made again (a regenerated draft, a rewrite that read new comments) in place of a pending or
    failed suggestion's, with what it was made from; its history keeps both (`regenerated`). Conflict when someone
    decided it meanwhile."""
    before = suggestion.payload
    replaced = session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id, Suggestion.status.in_(REGENERABLE))
        .values(**proposal.columns(), input=inputs, evidence=evidence)
    )
    if replaced.rowcount != 1:
        raise Conflict(f"suggestion {suggestion.id} was decided by someone else while it was being made again")
    session.refresh(suggestion)
    record_event(session, suggestion.id, SuggestionAction.regenerated, actor, before, suggestion.payload)
    return suggestion


def get_suggestion(session: Session, suggestion_id: int) -> Suggestion:
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        raise NotFound(f"no suggestion with id {suggestion_id}")
    return suggestion


@dataclass(frozen=True)
class Filter:
    """Which suggestions a listing shows: `q`, words that must all appear (any case) in what it proposes or what it
    was made from; `assignee`, given to that person; `unassigned`, given to no one."""

    status: SuggestionStatus | None = None
    kind: SuggestionKind | None = None
    q: str | None = None
    assignee: str | None = None
    unassigned: bool = False


def list_suggestions(
    session: Session, where: Filter | None = None, limit: int = 100, offset: int = 0
) -> list[Suggestion]:
    """Newest first."""
    query = _of(select(Suggestion).order_by(Suggestion.id.desc()).limit(limit).offset(offset), where or Filter())
    return list(session.scalars(query))


def count_suggestions(session: Session, where: Filter | None = None) -> int:
    """How many `list_suggestions` would give with no limit."""
    return session.scalar(_of(select(func.count()).select_from(Suggestion), where or Filter())) or 0


def _of(query: Select[Any], where: Filter) -> Select[Any]:
    status, kind, q = where.status, where.kind, where.q
    if status:
        query = query.where(Suggestion.status == status)
    if kind:
        query = query.where(Suggestion.kind == kind)
    if where.assignee:
        query = query.where(Suggestion.assignee == where.assignee)
    if where.unassigned:
        query = query.where(Suggestion.assignee.is_(None))
    for word in (q or "").split():
        # payload and input are JSON, stored as json.dumps writes them (so "é" is stored as "\u00e9")
        spellings = {word, json.dumps(word)[1:-1]}
        query = query.where(
            or_(
                *(
                    cast(column, Text).icontains(w, autoescape=True)
                    for column in (Suggestion.payload, Suggestion.input)
                    for w in spellings
                )
            )
        )
    return query


def history(session: Session, suggestion_id: int) -> list[SuggestionEvent]:
    """Every change to a suggestion, oldest first."""
    get_suggestion(session, suggestion_id)
    query = select(SuggestionEvent).where(SuggestionEvent.suggestion_id == suggestion_id).order_by(SuggestionEvent.id)
    return list(session.scalars(query))


ACCEPTS = (SuggestionAction.accepted, SuggestionAction.accepted_with_edits)


def acceptances(session: Session, suggestion_ids: list[int]) -> dict[int, SuggestionEvent]:
    """The latest acceptance of each of these suggestions that has one: for one accepted now, the acceptance that
    stands, with what it wrote (`after`; an estimate's: the points the team settled on) and whether with edits."""
    query = (
        select(SuggestionEvent)
        .where(SuggestionEvent.suggestion_id.in_(suggestion_ids), SuggestionEvent.action.in_(ACCEPTS))
        .order_by(SuggestionEvent.id)
    )
    return {event.suggestion_id: event for event in session.scalars(query)}


def assign(session: Session, suggestion: Suggestion, assignee: str | None, actor: str | None) -> bool:
    """Give an undecided (pending or failed) suggestion to a person to decide, or to no one; its history records who
    did. False when it was theirs already (nothing recorded)."""
    if suggestion.status not in (SuggestionStatus.pending, SuggestionStatus.failed):
        raise Conflict(f"suggestion {suggestion.id} is {suggestion.status}: only an undecided one is assigned")
    if suggestion.assignee == assignee:
        return False
    before = {"assignee": suggestion.assignee}
    suggestion.assignee = assignee
    record_event(session, suggestion.id, SuggestionAction.assigned, actor, before, {"assignee": assignee})
    return True


def ensure_pending(suggestion: Suggestion) -> None:
    if suggestion.status != SuggestionStatus.pending:
        raise Conflict(
            f"suggestion {suggestion.id} is already {suggestion.status}; only pending suggestions can be decided"
        )


def claim(
    session: Session, suggestion: Suggestion, status: SuggestionStatus, actor: str | None, reason: str | None
) -> None:
    """Move a pending suggestion to `status` atomically, or refuse."""
    ensure_pending(suggestion)
    claimed = session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id, Suggestion.status == SuggestionStatus.pending)
        .values(status=status, decided_at=utcnow(), decided_by=actor, reason=reason, pending_key=None)
    )
    if claimed.rowcount != 1:
        raise Conflict(f"suggestion {suggestion.id} was decided by someone else just now")
    session.refresh(suggestion)


def reopen(session: Session, suggestion: Suggestion, actor: str | None, pending_key: str | None = None) -> None:
    """Undo a decision: the decided suggestion is pending again (atomically, or Conflict), with `pending_key` (the
    key a refinement suggestion holds while pending), and its history says what was undone. What the decision did
    to the backlog is for the caller to undo first."""
    decided = {"status": suggestion.status, "decided_by": suggestion.decided_by, "reason": suggestion.reason}
    newer = session.scalar(select(Suggestion.id).where(Suggestion.pending_key == pending_key)) if pending_key else None
    if newer is not None:
        raise Conflict(f"suggestion {newer} proposes the same for the item as it is now: decide that one instead")
    try:
        reopened = session.execute(
            update(Suggestion)
            .where(Suggestion.id == suggestion.id, Suggestion.status == suggestion.status)
            .values(
                status=SuggestionStatus.pending,
                decided_at=None,
                decided_by=None,
                reason=None,
                backlog_item_id=None,
                pending_key=pending_key,
            )
        )
    except IntegrityError as exc:  # the same suggestion was made again just now
        raise Conflict(f"a suggestion like {suggestion.id} was made just now: decide that one instead") from exc
    if reopened.rowcount != 1:
        raise Conflict(f"suggestion {suggestion.id} was changed by someone else just now")
    session.refresh(suggestion)
    record_event(session, suggestion.id, SuggestionAction.reopened, actor, decided, {"status": "pending"})


def item_used_since(session: Session, item: BacklogItem, source: Suggestion) -> str | None:
    """What has happened to an item since the suggestion `source` made it, if anything: edits, comments, a priority
    set, evidence, a merge or split, another item's dependency on it, or a suggestion made about it."""
    if session.scalar(select(ItemEvent.id).where(ItemEvent.item_id == item.id).limit(1)):
        return "was edited"
    if session.scalar(select(Comment.id).where(Comment.item_id == item.id).limit(1)):
        return "was commented on"
    if item.merged_into_id or item.priority_set_by or item.evidence:
        return "was merged, prioritized or given evidence"
    linked = or_(BacklogItem.parent_id == item.id, BacklogItem.merged_into_id == item.id)
    if session.scalar(select(BacklogItem.id).where(linked).limit(1)):
        return "has children or merged items"
    prerequisites = session.scalars(select(BacklogItem.depends_on).where(BacklogItem.depends_on.is_not(None)))
    if any(item.id in (ids or []) for ids in prerequisites):
        return "is another item's prerequisite"
    later = select(Suggestion).where(Suggestion.id != source.id, Suggestion.created_at >= source.decided_at)
    for other in session.scalars(later):
        payload = other.payload or {}
        about = {other.backlog_item_id, (other.input or {}).get("backlog_item_id"), payload.get("backlog_item_id")}
        about |= set((payload.get("inputs") or {}).get("depends_on") or [])
        merged = [payload.get(side) or {} for side in ("keep", "fold_in")]
        if item.id in about or any(m.get("kind") == "backlog_item" and m.get("item_id") == item.id for m in merged):
            return f"has suggestion {other.id} made about it"
    return None


def edited_story(suggestion: Suggestion, edits: StoryDraftEdits | None) -> tuple[StoryDraft, SuggestionAction]:
    """A suggested story with a reviewer's edits applied (InvalidInput when they break it), and the action the
    history records: accepted, or accepted_with_edits."""
    draft = StoryDraft.model_validate(suggestion.payload)
    try:
        final = edits.apply(draft) if edits else draft
    except ValidationError as exc:
        raise InvalidInput(f"the edited story is not valid: {describe_validation_error(exc)}") from exc
    edited = final.model_dump(mode="json") != suggestion.payload
    return final, SuggestionAction.accepted_with_edits if edited else SuggestionAction.accepted


def story_item(story: StoryDraft, suggestion: Suggestion, parent_id: int | None = None) -> BacklogItem:
    """The backlog item an accepted story becomes (a draft, or a child of a split)."""
    return BacklogItem(
        title=story.title,
        description=story_markdown(story),
        item_type=story.item_type,
        labels=story.labels,
        story=story.model_dump(mode="json"),
        source_suggestion_id=suggestion.id,
        parent_id=parent_id,
    )
