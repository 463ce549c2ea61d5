"""Drafting as a service operation: run the pipeline, store its result as a suggestion."""

from __future__ import annotations

from pipelines.drafting import check_input, draft_story
from pipelines.llm import CallEvent, Listener
from service import dedupe, review
from service.runtime import Runtime
from service.tables import Suggestion

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
    its likely duplicates on it (proposing a merge when a backlog item is judged a duplicate). A `listener` hears
    the model's progress and each field as it is written; what is stored is the same either way."""
    check_input(text, context)  # refuse bad input before the model is built or loaded
    result = draft_story(runtime.llm(), text, context, listener=listener)
    if listener:
        listener(CallEvent.checking, {})
    with runtime.db.session() as session:
        suggestion_id = review.propose(session, "story_draft", result, {"text": text, "context": context}, actor).id
    dedupe.check_new_draft(runtime, suggestion_id, actor)
    with runtime.db.session() as session:
        return review.get_suggestion(session, suggestion_id)


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
        suggestion = review.get_suggestion(session, suggestion_id)
        review.ensure_regenerable(suggestion)
        text = text or suggestion.input.get("text", "")
        context = context if context is not None else suggestion.input.get("context")
    check_input(text, context)
    result = draft_story(runtime.llm(), text, context, temperature=REGENERATE_TEMPERATURE)
    with runtime.db.session() as session:
        suggestion = review.replace_draft(session, suggestion_id, result, {"text": text, "context": context}, actor)
        failed = suggestion.status == "failed"
    if failed:
        dedupe.unindex(runtime, [f"suggestion:{suggestion_id}"])
    else:
        dedupe.check_new_draft(runtime, suggestion_id, actor)
    with runtime.db.session() as session:
        return review.get_suggestion(session, suggestion_id)
