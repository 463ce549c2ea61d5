"""Customer evidence: a theme's tickets summed up, proposed for the backlog item they are about, attached on accept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.triage import THEMED
from service.core.enums import SuggestionAction, SuggestionKind, SuggestionStatus
from service.core.errors import Conflict
from service.core.suggestions import Proposal, claim, create_suggestion, record_event
from service.core.tables import BacklogItem, Suggestion, TicketRow

MAX_QUOTES = 10


def ticket_stats(tickets: list[TicketRow]) -> dict[str, Any]:
    """Ticket ids (in the given order), count, distinct customers and date range: evidence for an item."""
    dates = sorted(t.created for t in tickets if t.created is not None)
    return {
        "ticket_ids": [t.id for t in tickets],
        "ticket_count": len(tickets),
        "distinct_customers": len({t.customer for t in tickets if t.customer}),
        "date_range": [dates[0].isoformat(), dates[-1].isoformat()] if dates else None,
    }


def theme_evidence(tickets: list[TicketRow]) -> dict[str, Any]:
    """The evidence every theme suggestion carries: ticket stats, keys and categories."""
    return {
        **ticket_stats(tickets),
        "ticket_keys": [t.key for t in tickets][:200],
        "categories": {
            c: sum(t.category == c for t in tickets) for c in THEMED if any(t.category == c for t in tickets)
        },
    }


def propose_evidence(
    session: Session, proposal: Proposal, inputs: dict[str, Any], evidence: dict[str, Any]
) -> Suggestion:
    """Propose attaching a theme's tickets to the existing backlog item they are about (`proposal.payload` names
    it)."""
    return create_suggestion(session, SuggestionKind.evidence, proposal, inputs, evidence)


def accept_evidence(session: Session, suggestion: Suggestion, edits: None, actor: str | None) -> BacklogItem:
    """Attach the theme's tickets to the item: ticket ids, counts, distinct customers, dates and quotes."""
    item = session.get(BacklogItem, suggestion.payload["backlog_item_id"])
    if item is None or item.merged_into_id is not None:
        raise Conflict(f"backlog item {suggestion.payload['backlog_item_id']} is gone or was merged away")
    claim(session, suggestion, SuggestionStatus.accepted, actor, None)
    before = dict(item.evidence or {})
    ticket_ids = sorted({*before.get("ticket_ids", []), *suggestion.evidence.get("ticket_ids", [])})
    tickets = list(session.scalars(select(TicketRow).where(TicketRow.id.in_(ticket_ids)).order_by(TicketRow.id)))
    item.evidence = {
        **ticket_stats(tickets),
        "quotes": [*before.get("quotes", []), *suggestion.evidence.get("quotes", [])][:MAX_QUOTES],
        "suggestion_ids": [*before.get("suggestion_ids", []), suggestion.id],
    }
    suggestion.backlog_item_id = item.id
    record_event(session, suggestion.id, SuggestionAction.accepted, actor, before, item.evidence)
    return item
