"""Duplicate detection as service operations: what is indexed, checks on new drafts, merge suggestions, reindex.

Indexed: backlog items (not merged away) and pending story drafts. The database is the source of truth; the
vector store is rebuilt from it by `reindex` (and automatically when it is found empty).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.duplicates import Candidate, Document
from pipelines.models import StoryDraft, story_markdown
from service import review
from service.runtime import Runtime
from service.tables import BacklogItem, Suggestion, TicketRow

log = logging.getLogger(__name__)
SEARCHABLE = {"kind": ["backlog_item", "suggestion"]}


def item_document(item: BacklogItem) -> Document:
    return Document(
        id=f"backlog_item:{item.id}",
        title=item.title,
        body=item.description or "",
        metadata={"kind": "backlog_item", "item_id": item.id, "status": "backlog"},
    )


def suggestion_document(suggestion: Suggestion) -> Document:
    draft = StoryDraft.model_validate(suggestion.payload)
    return Document(
        id=f"suggestion:{suggestion.id}",
        title=draft.title,
        body=f"{suggestion.input.get('text', '')}\n{story_markdown(draft)}",
        metadata={"kind": "suggestion", "item_id": suggestion.id, "status": suggestion.status},
    )


def candidate_public(candidate: Candidate) -> dict[str, Any]:
    return {
        "item_id": int(candidate.metadata.get("item_id", 0)),
        "kind": str(candidate.metadata.get("kind", "")),
        "title": candidate.title,
        "score": candidate.score,
        "verdict": candidate.verdict,
    }


def indexable(session: Session) -> list[Document]:
    items = session.scalars(select(BacklogItem).where(BacklogItem.merged_into_id.is_(None)).order_by(BacklogItem.id))
    drafts = session.scalars(
        select(Suggestion)
        .where(Suggestion.kind == "story_draft", Suggestion.status == "pending")
        .order_by(Suggestion.id)
    )
    tickets = session.scalars(select(TicketRow).where(TicketRow.processed_at.is_not(None)).order_by(TicketRow.id))
    return (
        [item_document(i) for i in items]
        + [suggestion_document(s) for s in drafts]
        + [ticket_document(t) for t in tickets]
    )


def ticket_document(ticket: TicketRow) -> Document:
    text = ticket.redacted or ""
    return Document(
        id=f"ticket:{ticket.id}",
        title=ticket.subject or text[:120],
        body=text,
        metadata={"kind": "ticket", "item_id": ticket.id, "status": "ingested", "job_id": ticket.job_id},
    )


def reindex(runtime: Runtime, progress: Callable[[int, int], None] | None = None, batch: int = 256) -> int:
    """Rebuild the vector store from the database; returns how many documents were indexed."""
    with runtime.db.session() as session:
        documents = indexable(session)
    detector = runtime.duplicates()
    detector.store.reset()
    for start in range(0, len(documents), batch):
        detector.add(documents[start : start + batch])
        if progress:
            progress(min(start + batch, len(documents)), len(documents))
    return len(documents)


def index(runtime: Runtime, documents: list[Document]) -> None:
    if runtime.settings.duplicate_check and documents:
        runtime.duplicates().add(documents)


def unindex(runtime: Runtime, ids: list[str]) -> None:
    if runtime.settings.duplicate_check and ids:
        runtime.duplicates().remove(ids)


def search_text(runtime: Runtime, text: str, k: int = 10, exclude: set[str] | None = None) -> list[dict[str, Any]]:
    return [candidate_public(c) for c in runtime.duplicates().search(text, "", k, SEARCHABLE, exclude)]


def item_duplicates(runtime: Runtime, item: BacklogItem, k: int = 10) -> list[dict[str, Any]]:
    document = item_document(item)
    found = runtime.duplicates().search(document.title, document.body, k, SEARCHABLE, {document.id})
    return [candidate_public(c) for c in found]


def check_new_draft(runtime: Runtime, suggestion_id: int, actor: str | None = None) -> None:
    """List a new draft's likely duplicates on it, propose a merge for a backlog item judged a duplicate, and
    index the draft. A failure here (e.g. the vector store is down) becomes a warning on the draft."""
    if not runtime.settings.duplicate_check:
        return
    with runtime.db.session() as session:
        suggestion = review.get_suggestion(session, suggestion_id)
        if suggestion.status != "pending" or suggestion.kind != "story_draft":
            return
        document = suggestion_document(suggestion)
    try:
        detector = runtime.duplicates()
        found = detector.search(document.title, document.body, 5, SEARCHABLE, {document.id})
        detector.add([document])
    except Exception as exc:  # the draft is kept whatever happens to the index
        log.exception("duplicate check failed for suggestion %s", suggestion_id)
        with runtime.db.session() as session:
            suggestion = review.get_suggestion(session, suggestion_id)
            suggestion.warnings = [*suggestion.warnings, f"duplicate check failed: {exc}"]
        return
    listed = [candidate_public(c) for c in found if c.verdict != "distinct"]
    with runtime.db.session() as session:
        suggestion = review.get_suggestion(session, suggestion_id)
        suggestion.evidence = {**(suggestion.evidence or {}), "duplicates": listed}
        best = next((c for c in listed if c["verdict"] == "duplicate" and c["kind"] == "backlog_item"), None)
        if best and not _merge_pending(session, suggestion_id, best["item_id"]):
            detector_info = {
                "model": f"{runtime.settings.embedding_model} + tf-idf",
                "provider": "duplicate-detector",
                "prompt_version": f"duplicates@w{detector.calibration.semantic_weight}"
                f"-t{detector.calibration.duplicate_threshold}",
            }
            review.propose_merge(session, best["item_id"], suggestion, best, detector_info, actor)


def _merge_pending(session: Session, suggestion_id: int, item_id: int) -> bool:
    """Whether a pending merge of this draft into this item exists already (a regenerated draft is re-checked)."""
    merges = session.scalars(select(Suggestion).where(Suggestion.kind == "merge", Suggestion.status == "pending"))
    wanted = {"suggestion_id": suggestion_id, "backlog_item_id": item_id}
    return any(merge.input == wanted for merge in merges)


def after_decision(runtime: Runtime, suggestion: Suggestion, item: BacklogItem | None) -> None:
    """Keep the index in step with a decision: a decided draft leaves it, a new backlog item enters it."""
    try:
        if suggestion.kind == "story_draft":
            unindex(runtime, [f"suggestion:{suggestion.id}"])
        if item is not None and item.merged_into_id is None:
            index(runtime, [item_document(item)])
        merged = (suggestion.payload or {}).get("fold_in", {}) if suggestion.kind == "merge" else {}
        if merged.get("kind") == "suggestion":
            unindex(runtime, [f"suggestion:{merged['item_id']}"])
        if merged.get("kind") == "backlog_item" and suggestion.status == "accepted":
            unindex(runtime, [f"backlog_item:{merged['item_id']}"])
    except Exception:  # the decision is stored; `refinery reindex` repairs the index
        log.exception("could not update the duplicate index after deciding suggestion %s", suggestion.id)
