"""What a project's reviewers taught drafting: the drafts they accepted after editing them become worked examples
in the project's drafting prompt, so a team that writes stories its own way sees new drafts written that way. The
latest `TEAM_EXAMPLES` count (the same ones for every draft until the next edit, so the model server's prompt cache
keeps them). An admin can reset it: edits accepted before the reset no longer count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.drafting import TEAM_EXAMPLES, team_example
from prompts import Example
from service.core import scope
from service.core.enums import SuggestionAction, SuggestionKind, SuggestionStatus
from service.core.runtime import Runtime
from service.core.tables import Suggestion, SuggestionEvent, utcnow


def _edited_accepts(session: Session, limit: int | None) -> list[tuple[Suggestion, SuggestionEvent]]:
    """The current project's drafts accepted with edits since its last reset, newest first."""
    project = scope.this_project(session)
    since = project.drafts_learned_since if project else None
    query = (
        select(Suggestion, SuggestionEvent)
        .join(SuggestionEvent, SuggestionEvent.suggestion_id == Suggestion.id)
        .where(
            Suggestion.kind == SuggestionKind.story_draft,
            Suggestion.status == SuggestionStatus.accepted,  # an acceptance undone teaches nothing
            SuggestionEvent.action == SuggestionAction.accepted_with_edits,
        )
        .order_by(SuggestionEvent.at.desc(), SuggestionEvent.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(SuggestionEvent.at >= since)
    return [(suggestion, event) for suggestion, event in session.execute(query) if "text" in suggestion.input]


def team_examples(session: Session) -> tuple[list[Example], list[int]]:
    """The project's latest accepted edits as worked examples, oldest first, and their suggestion ids."""
    found = list(reversed(_edited_accepts(session, TEAM_EXAMPLES)))
    examples = [team_example(s.input["text"], s.input.get("context"), event.after or {}) for s, event in found]
    return examples, [s.id for s, _ in found]


def learned(runtime: Runtime) -> dict[str, Any]:
    """What drafting learned in this project, for the desk and `GET /v1/drafts/learning`."""
    with runtime.db.session() as session:
        project = scope.this_project(session)
        edits = _edited_accepts(session, None)
        in_use = {s.id for s, _ in edits[:TEAM_EXAMPLES]}
        return {
            "edited_accepts": len(edits),
            "examples": [
                {
                    "suggestion_id": suggestion.id,
                    "title": (event.after or {}).get("title", ""),
                    "edited_fields": sorted(
                        key for key in (event.after or {}) if (event.before or {}).get(key) != event.after[key]
                    ),
                    "accepted_at": event.at,
                    "in_prompt": suggestion.id in in_use,
                }
                for suggestion, event in edits[:20]
            ],
            "learned_since": project.drafts_learned_since if project else None,
        }


def reset(runtime: Runtime) -> dict[str, Any]:
    """Forget the project's accepted edits: drafts use the built-in examples only, until the next edit."""
    with runtime.db.session() as session:
        project = scope.this_project(session)
        if project is not None:
            project.drafts_learned_since = utcnow()
    return learned(runtime)
