"""The suggestion state machine: pending -> accepted | rejected; failed is terminal. History for every change.

Nothing becomes a backlog item without a person accepting it. Decisions are compare-and-set on the status
row, so two concurrent accepts cannot both win.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipelines.llm import StructuredResult, describe_validation_error
from pipelines.models import StoryDraft, StoryDraftEdits, story_markdown
from pipelines.prioritization import InputEdits
from service.tables import BacklogItem, Suggestion, SuggestionEvent, utcnow


class ReviewError(Exception):
    """A request the review workflow refuses; `status_code` says how HTTP should report it."""

    status_code = 400


class NotFound(ReviewError):
    status_code = 404


class Conflict(ReviewError):
    status_code = 409


class InvalidEdit(ReviewError):
    status_code = 422


def record_event(session: Session, suggestion_id: int, action: str, actor: str | None, before: Any, after: Any) -> None:
    session.add(SuggestionEvent(suggestion_id=suggestion_id, action=action, actor=actor, before=before, after=after))


def result_fields(result: StructuredResult, inputs: dict[str, Any]) -> dict[str, Any]:
    """A suggestion's columns from an AI result: pending with the value, or failed with the raw output and reason."""
    return {
        "status": "pending" if result.ok else "failed",
        "payload": result.value.model_dump(mode="json") if result.ok else {"raw_output": result.raw},
        "input": inputs,
        "model": result.record.model,
        "provider": result.record.provider,
        "prompt_version": f"{result.record.prompt_id}@{result.record.prompt_version}",
        "usage": result.record.usage(),
        "warnings": result.warnings,
        "reason": result.error,
    }


def propose(
    session: Session, kind: str, result: StructuredResult, inputs: dict[str, Any], actor: str | None = None
) -> Suggestion:
    """Store an AI result as a pending suggestion, or as a failed one carrying the reason."""
    suggestion = Suggestion(kind=kind, **result_fields(result, inputs))
    session.add(suggestion)
    session.flush()
    record_event(session, suggestion.id, "created", actor, None, suggestion.payload)
    return suggestion


def get_suggestion(session: Session, suggestion_id: int) -> Suggestion:
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None:
        raise NotFound(f"no suggestion with id {suggestion_id}")
    return suggestion


def _ensure_pending(suggestion: Suggestion) -> None:
    if suggestion.status != "pending":
        raise Conflict(
            f"suggestion {suggestion.id} is already {suggestion.status}; only pending suggestions can be decided"
        )


def claim(session: Session, suggestion: Suggestion, status: str, actor: str | None, reason: str | None) -> None:
    """Move a pending suggestion to `status` atomically, or refuse."""
    _ensure_pending(suggestion)
    claimed = session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id, Suggestion.status == "pending")
        .values(status=status, decided_at=utcnow(), decided_by=actor, reason=reason)
    )
    if claimed.rowcount != 1:
        raise Conflict(f"suggestion {suggestion.id} was decided by someone else just now")
    session.refresh(suggestion)


def ensure_regenerable(suggestion: Suggestion) -> None:
    if suggestion.kind != "story_draft":
        raise Conflict(f"suggestion {suggestion.id} is a {suggestion.kind}; only story drafts can be regenerated")
    if suggestion.status not in ("pending", "failed"):
        raise Conflict(f"suggestion {suggestion.id} is already {suggestion.status}; it cannot be regenerated")
    if "text" not in suggestion.input:
        raise Conflict(f"suggestion {suggestion.id} was drafted from a theme of tickets, not from an idea's text")


def replace_draft(
    session: Session, suggestion_id: int, result: StructuredResult, inputs: dict[str, Any], actor: str | None
) -> Suggestion:
    """Put a regenerated draft in place of the old one (pending, or failed with the reason); history keeps both."""
    suggestion = get_suggestion(session, suggestion_id)
    ensure_regenerable(suggestion)
    before = suggestion.payload
    kept_evidence = {k: v for k, v in (suggestion.evidence or {}).items() if k != "duplicates"} or None
    replaced = session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion_id, Suggestion.status.in_(("pending", "failed")))
        .values(**result_fields(result, inputs), evidence=kept_evidence)
    )
    if replaced.rowcount != 1:
        raise Conflict(f"suggestion {suggestion_id} was decided by someone else while it was being regenerated")
    session.refresh(suggestion)
    record_event(session, suggestion_id, "regenerated", actor, before, suggestion.payload)
    return suggestion


def propose_merge(
    session: Session,
    keep_item_id: int,
    fold_in: Suggestion,
    candidate: dict[str, Any],
    detector: dict[str, str],
    actor: str | None = None,
) -> Suggestion:
    """Propose folding a pending draft into the backlog item it duplicates (kept: the backlog item)."""
    keep = session.get(BacklogItem, keep_item_id)
    if keep is None:
        raise NotFound(f"no backlog item with id {keep_item_id}")
    payload = {
        "keep": {"kind": "backlog_item", "item_id": keep.id, "title": keep.title},
        "fold_in": {"kind": "suggestion", "item_id": fold_in.id, "title": (fold_in.payload or {}).get("title", "")},
        "score": candidate["score"],
        "verdict": candidate["verdict"],
    }
    suggestion = Suggestion(
        kind="merge",
        status="pending",
        payload=payload,
        input={"suggestion_id": fold_in.id, "backlog_item_id": keep.id},
        evidence={"duplicates": [candidate]},
        **detector,
    )
    session.add(suggestion)
    session.flush()
    record_event(session, suggestion.id, "created", actor, None, payload)
    return suggestion


def propose_evidence(
    session: Session, payload: dict[str, Any], inputs: dict[str, Any], evidence: dict[str, Any], model: str
) -> Suggestion:
    """Propose attaching a theme's tickets to the existing backlog item they are about."""
    suggestion = Suggestion(
        kind="evidence",
        status="pending",
        payload=payload,
        input=inputs,
        evidence=evidence,
        model=f"{model} + tf-idf",
        provider="duplicate-detector",
        prompt_version="theme-match@1",
    )
    session.add(suggestion)
    session.flush()
    record_event(session, suggestion.id, "created", None, None, payload)
    return suggestion


def _accept_evidence(session: Session, suggestion: Suggestion, actor: str | None) -> BacklogItem:
    """Attach the theme's tickets to the item: ticket ids, counts, distinct customers, dates and quotes."""
    from service.ingest import ticket_stats
    from service.tables import TicketRow

    item = session.get(BacklogItem, suggestion.payload["backlog_item_id"])
    if item is None or item.merged_into_id is not None:
        raise Conflict(f"backlog item {suggestion.payload['backlog_item_id']} is gone or was merged away")
    claim(session, suggestion, "accepted", actor, None)
    before = dict(item.evidence or {})
    ticket_ids = sorted({*before.get("ticket_ids", []), *suggestion.evidence.get("ticket_ids", [])})
    tickets = list(session.scalars(select(TicketRow).where(TicketRow.id.in_(ticket_ids)).order_by(TicketRow.id)))
    item.evidence = {
        **ticket_stats(tickets),
        "quotes": [*before.get("quotes", []), *suggestion.evidence.get("quotes", [])][:10],
        "suggestion_ids": [*before.get("suggestion_ids", []), suggestion.id],
    }
    suggestion.backlog_item_id = item.id
    record_event(session, suggestion.id, "accepted", actor, before, item.evidence)
    return item


def _accept_merge(session: Session, merge: Suggestion, actor: str | None) -> BacklogItem:
    """Fold the duplicate into the kept item: a pending draft is closed as merged, a backlog item is marked
    merged; the kept item's description notes what was folded in."""
    keep = session.get(BacklogItem, merge.payload["keep"]["item_id"])
    if keep is None or keep.merged_into_id is not None:
        raise Conflict(f"the item to keep ({merge.payload['keep']['item_id']}) is gone or was merged away")
    claim(session, merge, "accepted", actor, None)
    fold_in = merge.payload["fold_in"]
    if fold_in["kind"] == "suggestion":
        duplicate = get_suggestion(session, fold_in["item_id"])
        if duplicate.status != "pending":
            raise Conflict(f"suggestion {duplicate.id} is already {duplicate.status}; nothing left to merge")
        claim(session, duplicate, "rejected", actor, f"merged into backlog item {keep.id} (merge {merge.id})")
        record_event(session, duplicate.id, "merged", actor, duplicate.payload, None)
        note = duplicate.input.get("text", "")
    else:
        folded = session.get(BacklogItem, fold_in["item_id"])
        if folded is None or folded.merged_into_id is not None:
            raise Conflict(f"backlog item {fold_in['item_id']} is gone or was already merged")
        folded.merged_into_id = keep.id
        note = folded.title
    keep.description = (
        f"{keep.description}\n\nMerged duplicate ({fold_in['kind']} {fold_in['item_id']}): {note}".strip()
    )
    merge.backlog_item_id = keep.id
    record_event(session, merge.id, "accepted", actor, merge.payload, merge.payload)
    return keep


def accept(
    session: Session,
    suggestion_id: int,
    edits: StoryDraftEdits | None = None,
    actor: str | None = None,
    input_edits: InputEdits | None = None,
) -> BacklogItem | None:
    """Accept a pending suggestion: a story draft (optionally edited) creates its backlog item; a merge folds
    the duplicate into the kept item and returns that item."""
    suggestion = get_suggestion(session, suggestion_id)
    if input_edits is not None and suggestion.kind != "priority":
        raise InvalidEdit("input_edits apply to priority suggestions only")
    if suggestion.kind == "priority":
        from service.prioritize import accept_priority

        _ensure_pending(suggestion)
        if edits is not None:
            raise InvalidEdit("a priority suggestion is edited through input_edits (reach, impact, effort, ...)")
        try:
            return accept_priority(session, suggestion, input_edits, actor)
        except ValidationError as exc:
            raise InvalidEdit(f"the edited inputs are not valid: {describe_validation_error(exc)}") from exc
    if suggestion.kind == "sprint_plan":
        claim(session, suggestion, "accepted", actor, None)
        record_event(session, suggestion.id, "accepted", actor, suggestion.payload, suggestion.payload)
        return None
    if suggestion.kind in ("merge", "evidence"):
        if edits is not None:
            raise InvalidEdit(f"a {suggestion.kind} suggestion has nothing to edit; accept or reject it")
        _ensure_pending(suggestion)
        accept_other = _accept_merge if suggestion.kind == "merge" else _accept_evidence
        return accept_other(session, suggestion, actor)
    if suggestion.kind != "story_draft":
        raise Conflict(f"suggestion {suggestion_id} is a {suggestion.kind}; it cannot be accepted here")
    _ensure_pending(suggestion)
    draft = StoryDraft.model_validate(suggestion.payload)
    try:
        final = edits.apply(draft) if edits else draft
    except ValidationError as exc:
        raise InvalidEdit(f"the edited story is not valid: {describe_validation_error(exc)}") from exc
    claim(session, suggestion, "accepted", actor, None)
    item = BacklogItem(
        title=final.title,
        description=story_markdown(final),
        item_type=final.item_type,
        labels=final.labels,
        story=final.model_dump(mode="json"),
        source_suggestion_id=suggestion.id,
    )
    session.add(item)
    session.flush()
    suggestion.backlog_item_id = item.id
    after = final.model_dump(mode="json")
    action = "accepted" if after == suggestion.payload else "accepted_with_edits"
    record_event(session, suggestion.id, action, actor, suggestion.payload, after)
    return item


def reject(session: Session, suggestion_id: int, reason: str, actor: str | None = None) -> Suggestion:
    """Reject a pending suggestion, keeping the reason."""
    suggestion = get_suggestion(session, suggestion_id)
    claim(session, suggestion, "rejected", actor, reason)
    record_event(session, suggestion.id, "rejected", actor, suggestion.payload, None)
    return suggestion


def list_suggestions(
    session: Session, status: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0
) -> list[Suggestion]:
    query = select(Suggestion).order_by(Suggestion.id.desc()).limit(limit).offset(offset)
    if status:
        query = query.where(Suggestion.status == status)
    if kind:
        query = query.where(Suggestion.kind == kind)
    return list(session.scalars(query))
