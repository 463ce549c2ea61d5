"""Drafting as a service operation: run the pipeline, store its result as a suggestion."""

from __future__ import annotations

from pipelines.drafting import check_input, draft_story
from service import review
from service.runtime import Runtime
from service.tables import Suggestion


def create_draft(runtime: Runtime, text: str, context: str | None = None, actor: str | None = None) -> Suggestion:
    """Draft a story (slow: the LLM runs outside any database transaction), then store it as a suggestion."""
    check_input(text, context)  # refuse bad input before the model is built or loaded
    result = draft_story(runtime.llm(), text, context)
    with runtime.db.session() as session:
        return review.propose(session, "story_draft", result, {"text": text, "context": context}, actor)
