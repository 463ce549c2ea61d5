"""Drafting: a raw idea -> a story draft suggestion; regenerate it; accept it into the backlog."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipelines.drafting import check_input, draft_story
from pipelines.llm import CallEvent, Listener
from pipelines.models import StoryDraftEdits
from service import duplicates
from service.core.enums import SuggestionKind, SuggestionStatus
from service.core.errors import Conflict
from service.core.runtime import Runtime
from service.core.suggestions import (
    REGENERABLE,
    Proposal,
    claim,
    create_suggestion,
    edited_story,
    get_suggestion,
    item_used_since,
    record_event,
    replace_proposal,
    story_item,
)
from service.core.tables import BacklogItem, Suggestion
from service.drafting import learning

# Drafts decode greedily (the same input gives the same draft); a regenerated draft is sampled so it can differ.
REGENERATE_TEMPERATURE = 0.7


def create_draft(
    runtime: Runtime,
    text: str,
    context: str | None = None,
    actor: str | None = None,
    listener: Listener | None = None,
) -> Suggestion:
    """Draft a story (slow: the LLM runs outside any database transaction), store it as a suggestion, then list
    its likely duplicates on it (proposing a merge when a backlog item is judged a duplicate). The project's latest
    accepted edits are examples in the prompt (their ids in `evidence.team_examples`). A `listener` hears the
    model's progress and each field as it is written; what is stored is the same either way."""
    check_input(text, context)  # refuse bad input before the model is built or loaded
    with runtime.db.session() as session:
        examples, example_ids = learning.team_examples(session)
    result = draft_story(runtime.llm(), text, context, listener=listener, examples=examples)
    if listener:
        listener(CallEvent.checking, {})
    inputs = {"text": text, "context": context}
    evidence = {"team_examples": example_ids} if example_ids else None
    with runtime.db.session() as session:
        suggestion_id = create_suggestion(
            session, SuggestionKind.story_draft, Proposal.of(result), inputs, evidence, actor
        ).id
    duplicates.check_new_draft(runtime, suggestion_id, actor)
    with runtime.db.session() as session:
        return get_suggestion(session, suggestion_id)


def ensure_regenerable(suggestion: Suggestion) -> None:
    if suggestion.kind != SuggestionKind.story_draft:
        raise Conflict(f"suggestion {suggestion.id} is a {suggestion.kind}; only story drafts can be regenerated")
    if suggestion.status not in REGENERABLE:
        raise Conflict(f"suggestion {suggestion.id} is already {suggestion.status}; it cannot be regenerated")
    if "text" not in suggestion.input:
        raise Conflict(f"suggestion {suggestion.id} was drafted from a theme of tickets, not from an idea's text")


def regenerate_draft(
    runtime: Runtime,
    suggestion_id: int,
    text: str | None = None,
    context: str | None = None,
    actor: str | None = None,
) -> Suggestion:
    """Draft a pending or failed story suggestion again (sampled, so it can differ), from its input or a reviewer's
    revised text/context, replacing its draft in place (the old one stays in its history) and re-checking its
    duplicates."""
    with runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        ensure_regenerable(suggestion)
        text = text or suggestion.input.get("text", "")
        context = context if context is not None else suggestion.input.get("context")
    check_input(text, context)
    with runtime.db.session() as session:
        examples, _ = learning.team_examples(session)
    result = draft_story(runtime.llm(), text, context, temperature=REGENERATE_TEMPERATURE, examples=examples)
    with runtime.db.session() as session:
        suggestion = _replace_draft(
            session, suggestion_id, Proposal.of(result), {"text": text, "context": context}, actor
        )
        failed = suggestion.status == SuggestionStatus.failed
    if failed:
        duplicates.unindex(runtime, [duplicates.suggestion_document_id(suggestion_id)])
    else:
        duplicates.check_new_draft(runtime, suggestion_id, actor)
    with runtime.db.session() as session:
        return get_suggestion(session, suggestion_id)


def _replace_draft(
    session: Session, suggestion_id: int, proposal: Proposal, inputs: dict, actor: str | None
) -> Suggestion:
    """Put a regenerated draft in place of the old one (pending, or failed with the reason); history keeps both."""
    suggestion = get_suggestion(session, suggestion_id)
    ensure_regenerable(suggestion)
    kept_evidence = {k: v for k, v in (suggestion.evidence or {}).items() if k != "duplicates"} or None
    return replace_proposal(session, suggestion, proposal, inputs, kept_evidence, actor)


def undo_draft(session: Session, suggestion: Suggestion) -> None:
    """Undo a draft's acceptance: the backlog item it became is deleted, if nothing has used or changed it since
    (else Conflict, saying what did and what to do instead)."""
    item = session.get(BacklogItem, suggestion.backlog_item_id or 0)
    if item is not None:
        if used := item_used_since(session, item, suggestion):
            raise Conflict(
                f"backlog item {item.id} that this draft became {used} since it was accepted, so deleting it would "
                "lose that: edit the item or close it instead"
            )
        session.delete(item)
        session.flush()


def accept_draft(
    session: Session, suggestion: Suggestion, edits: StoryDraftEdits | None, actor: str | None
) -> BacklogItem:
    """The draft (with the reviewer's edits, if any) becomes a backlog item."""
    final, action = edited_story(suggestion, edits)
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    item = story_item(final, suggestion)
    session.add(item)
    session.flush()
    suggestion.backlog_item_id = item.id
    record_event(session, suggestion.id, action, actor, suggestion.payload, final.model_dump(mode="json"))
    return item
