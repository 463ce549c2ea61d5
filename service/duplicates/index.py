"""What the duplicate index holds, kept from the database: backlog items (not merged away), pending story drafts
and ingested tickets, each with its project; a search looks in the current project only. The database is the source
of truth; `reindex` rebuilds the vector store from it, and an empty store is refilled the first time the detector is
taken (`detector`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.duplicates import Candidate, Document, DuplicateCalibration, DuplicateDetector
from pipelines.labels import LabelledItem
from pipelines.models import StoryDraft, story_markdown
from service.core import scope
from service.core.enums import SuggestionKind, SuggestionStatus
from service.core.runtime import Runtime
from service.core.tables import BacklogItem, Suggestion, TicketRow
from service.duplicates import learning

SEARCHABLE = ("backlog_item", "suggestion")  # what a new draft or text is checked against
SEARCH_BATCH = 128  # queries encoded and searched together


def in_this_project(*kinds: str) -> dict[str, list[Any]]:
    """A search's `where`: documents of these kinds in the current project (a search never crosses projects)."""
    return {"kind": list(kinds), "project": [scope.current_project()]}


def detector(runtime: Runtime) -> DuplicateDetector:
    """The runtime's duplicate detector; an empty store is first filled from the database."""
    return runtime.detector(seed=indexable)


def calibration(runtime: Runtime) -> DuplicateCalibration:
    """The current project's duplicate calibration: the dev one, recalibrated by its reviewers' merge decisions."""
    return learning.project_calibration(runtime, detector(runtime).calibration)


def item_document_id(item_id: int) -> str:
    return f"backlog_item:{item_id}"


def item_document(item: BacklogItem) -> Document:
    return Document(
        id=item_document_id(item.id),
        title=item.title,
        body=item.description or "",
        metadata={
            "kind": "backlog_item",
            "item_id": item.id,
            "status": "backlog",
            "project": _project(item.project_id),
        },
    )


def suggestion_document_id(suggestion_id: int) -> str:
    return f"suggestion:{suggestion_id}"


def suggestion_document(suggestion: Suggestion) -> Document:
    draft = StoryDraft.model_validate(suggestion.payload)
    return Document(
        id=suggestion_document_id(suggestion.id),
        title=draft.title,
        body=f"{suggestion.input.get('text', '')}\n{story_markdown(draft)}",
        metadata={
            "kind": "suggestion",
            "item_id": suggestion.id,
            "status": suggestion.status,
            "project": _project(suggestion.project_id),
        },
    )


def _project(project_id: int | None) -> int:
    return project_id or scope.current_project()  # a row not flushed yet joins the current project


def ticket_document(
    ticket_id: int, job_id: int, subject: str, redacted: str, project_id: int | None = None
) -> Document:
    """A ticket's document, from its redacted text only (the original never reaches the index)."""
    return Document(
        id=f"ticket:{ticket_id}",
        title=subject or redacted[:120],
        body=redacted,
        metadata={
            "kind": "ticket",
            "item_id": ticket_id,
            "status": "ingested",
            "job_id": job_id,
            "project": _project(project_id),
        },
    )


def indexable(session: Session) -> list[Document]:
    """Every document the index should hold, of every project, read from the database."""
    with scope.every_project():
        return _indexable(session)


def _indexable(session: Session) -> list[Document]:
    items = session.scalars(select(BacklogItem).where(BacklogItem.merged_into_id.is_(None)).order_by(BacklogItem.id))
    drafts = session.scalars(
        select(Suggestion)
        .where(Suggestion.kind == SuggestionKind.story_draft, Suggestion.status == SuggestionStatus.pending)
        .order_by(Suggestion.id)
    )
    tickets = session.scalars(select(TicketRow).where(TicketRow.processed_at.is_not(None)).order_by(TicketRow.id))
    return (
        [item_document(i) for i in items]
        + [suggestion_document(s) for s in drafts]
        + [ticket_document(t.id, t.job_id, t.subject, t.redacted or "", t.project_id) for t in tickets]
    )


def reindex(runtime: Runtime, progress: Callable[[int, int], None] | None = None, batch: int = 256) -> int:
    """Rebuild the vector store from the database; returns how many documents were indexed."""
    with runtime.db.session() as session:
        documents = indexable(session)
    found = runtime.detector()  # no seed: the store is reset and filled right here
    found.store.reset()
    for start in range(0, len(documents), batch):
        found.add(documents[start : start + batch])
        if progress:
            progress(min(start + batch, len(documents)), len(documents))
    return len(documents)


def index(runtime: Runtime, documents: list[Document]) -> None:
    if runtime.settings.duplicate_check and documents:
        detector(runtime).add(documents)


def unindex(runtime: Runtime, ids: list[str]) -> None:
    if runtime.settings.duplicate_check and ids:
        detector(runtime).remove(ids)


def candidate_public(candidate: Candidate) -> dict[str, Any]:
    return {
        "item_id": int(candidate.metadata.get("item_id", 0)),
        "kind": str(candidate.metadata.get("kind", "")),
        "title": candidate.title,
        "score": candidate.score,
        "verdict": candidate.verdict,
        "probability": candidate.probability,
        "stand_out": candidate.stand_out.model_dump(),
    }


def labelled_candidates(session: Session, found: list[dict[str, Any]]) -> list[LabelledItem]:
    """The backlog items among public candidates (`candidate_public`) that have labels, best first, with their labels
    (read for those candidates only): what a labels vote compares with."""
    items = [c for c in found if c["kind"] == "backlog_item"]
    query = select(BacklogItem.id, BacklogItem.labels).where(
        BacklogItem.id.in_([c["item_id"] for c in items]), BacklogItem.merged_into_id.is_(None)
    )
    labels = {item_id: labelled for item_id, labelled in session.execute(query)}
    return [
        LabelledItem(item_id=c["item_id"], title=c["title"], labels=labels[c["item_id"]],
                     score=min(max(c["score"], 0.0), 1.0))
        for c in items
        if labels.get(c["item_id"])
    ]  # fmt: skip


def mark_closed(runtime: Runtime, lists: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """The public candidates with `closed` set on each backlog item done or cancelled in its tracker (read from the
    database, so a re-import or an edit that closes an item shows at once)."""
    ids = {c["item_id"] for found in lists for c in found if c["kind"] == "backlog_item"}
    if ids:
        with runtime.db.session() as session:
            closed = set(session.scalars(select(BacklogItem.id).where(BacklogItem.id.in_(ids), BacklogItem.closed)))
    else:
        closed = set()
    return [[{**c, "closed": c["kind"] == "backlog_item" and c["item_id"] in closed} for c in found] for found in lists]


def search_text(runtime: Runtime, text: str, k: int = 10, title: str | None = None) -> list[dict[str, Any]]:
    """The backlog items and pending drafts most like `text`, best first. Searched as items are indexed, title and
    body apart: without `title`, the text's first line is the title and the rest the body (the whole text as a
    title made pasted reports miss duplicates: recall@10 0.837 through the service against 0.893 in the eval)."""
    if title is None:
        title, _, text = text.strip().partition("\n")
    found = detector(runtime).search(title, text.strip(), k, in_this_project(*SEARCHABLE), None, calibration(runtime))
    return mark_closed(runtime, [[candidate_public(c) for c in found]])[0]


def item_duplicates(runtime: Runtime, item: BacklogItem, k: int = 10) -> list[dict[str, Any]]:
    """The backlog items and pending drafts most like a backlog item, itself left out."""
    return items_duplicates(runtime, [item], k)[0]


def items_duplicates(runtime: Runtime, items: list[BacklogItem], k: int = 10) -> list[list[dict[str, Any]]]:
    """`item_duplicates` for many items, in batches of store queries; an indexed item's stored vectors are used
    instead of encoding its text again."""
    return documents_duplicates(runtime, [item_document(item) for item in items], k)


def drafts_duplicates(runtime: Runtime, drafts: list[Suggestion], k: int = 10) -> list[list[dict[str, Any]]]:
    """The backlog items and other pending drafts most like each pending story draft."""
    return documents_duplicates(runtime, [suggestion_document(draft) for draft in drafts], k)


def documents_duplicates(runtime: Runtime, documents: list[Document], k: int) -> list[list[dict[str, Any]]]:
    """The candidates of indexed documents, each left out of its own, in batches of store queries."""
    results: list[list[dict[str, Any]]] = []
    learned = calibration(runtime)
    for start in range(0, len(documents), SEARCH_BATCH):
        batch = documents[start : start + SEARCH_BATCH]
        queries = [(document.title, document.body) for document in batch]
        own = [document.id for document in batch]
        where = in_this_project(*SEARCHABLE)
        found = detector(runtime).search_many(queries, k, where, [{doc_id} for doc_id in own], own, learned)
        results += [[candidate_public(c) for c in candidates] for candidates in found]
    return mark_closed(runtime, results)
