"""Duplicates of new drafts: list them on the draft, propose a merge into the backlog item it duplicates, and
what accepting or rejecting a merge or a draft does to the index."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines import labels as labelling
from pipelines.duplicates import DuplicateCalibration
from service.core.enums import SuggestionAction, SuggestionKind, SuggestionStatus
from service.core.errors import Conflict, NotFound
from service.core.runtime import Runtime
from service.core.suggestions import Proposal, claim, create_suggestion, get_suggestion, record_event
from service.core.tables import BacklogItem, Suggestion
from service.duplicates.index import (
    SEARCHABLE,
    calibration,
    candidate_public,
    detector,
    in_this_project,
    index,
    item_document,
    item_document_id,
    labelled_candidates,
    mark_closed,
    suggestion_document,
    suggestion_document_id,
    unindex,
)

log = logging.getLogger(__name__)
SHOWN = 5  # the likely duplicates listed on a new draft


def detector_proposal(runtime: Runtime, used: DuplicateCalibration, payload: dict[str, Any]) -> Proposal:
    """A proposal made by the duplicate detector (no LLM): its embedding model and the calibration `used` are its
    version."""
    return Proposal(
        payload=payload,
        model=f"{runtime.settings.embedding_model} + tf-idf",
        provider="duplicate-detector",
        prompt_version=f"duplicates@w{used.semantic_weight}-p{used.duplicate_probability}-d{used.decisions}",
    )


def check_new_draft(runtime: Runtime, suggestion_id: int, actor: str | None = None) -> None:
    """List a new draft's likely duplicates on it, propose a merge for a backlog item judged a duplicate, and
    index the draft; from the same search, the labels its most similar labelled items agree on that it lacks
    (`evidence.team_labels`, as a labels suggestion's vote). A failure here (e.g. the vector store is down) becomes a
    warning on the draft."""
    if not runtime.settings.duplicate_check:
        return
    with runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        if suggestion.status != SuggestionStatus.pending or suggestion.kind != SuggestionKind.story_draft:
            return
        document = suggestion_document(suggestion)
    try:
        found_by = detector(runtime)
        where, used = in_this_project(*SEARCHABLE), calibration(runtime)
        found = found_by.search(document.title, document.body, labelling.POOL, where, {document.id}, used)
        found_by.add([document])
    except Exception as exc:  # the draft is kept whatever happens to the index
        log.exception("duplicate check failed for suggestion %s", suggestion_id)
        with runtime.db.session() as session:
            suggestion = get_suggestion(session, suggestion_id)
            suggestion.warnings = [*suggestion.warnings, f"duplicate check failed: {exc}"]
        return
    shown = [candidate_public(c) for c in found]
    listed = mark_closed(runtime, [[c for c in shown[:SHOWN] if c["verdict"] != "distinct"]])[0]
    with runtime.db.session() as session:
        suggestion = get_suggestion(session, suggestion_id)
        evidence = {k: v for k, v in (suggestion.evidence or {}).items() if k != "team_labels"}  # a regenerated one's
        present = (suggestion.payload or {}).get("labels") or []
        if labels := labelling.suggest_labels(labelled_candidates(session, shown)[: labelling.K], present):
            evidence["team_labels"] = {k: v for k, v in labelling.shown(labels).items() if k != "comparables"}
        suggestion.evidence = {**evidence, "duplicates": listed}
        best = next((c for c in listed if c["verdict"] == "duplicate" and c["kind"] == "backlog_item"), None)
        if best and not _merge_pending(session, suggestion_id, best["item_id"]):
            _propose_merge(session, best["item_id"], suggestion, best, detector_proposal(runtime, used, {}), actor)


def _merge_pending(session: Session, suggestion_id: int, item_id: int) -> bool:
    """Whether a pending merge of this draft into this item exists already (a regenerated draft is re-checked)."""
    merges = session.scalars(
        select(Suggestion).where(Suggestion.kind == SuggestionKind.merge, Suggestion.status == SuggestionStatus.pending)
    )
    wanted = {"suggestion_id": suggestion_id, "backlog_item_id": item_id}
    return any(merge.input == wanted for merge in merges)


def _propose_merge(
    session: Session,
    keep_item_id: int,
    fold_in: Suggestion,
    candidate: dict[str, Any],
    proposal: Proposal,
    actor: str | None,
) -> Suggestion:
    """Propose folding a pending draft into the backlog item it duplicates (kept: the backlog item). A closed item
    is proposed too (the idea may be done already), with a warning that the idea may ask for it again."""
    keep = session.get(BacklogItem, keep_item_id)
    if keep is None:
        raise NotFound(f"no backlog item with id {keep_item_id}")
    if keep.closed:
        proposal = replace(proposal, warnings=[*proposal.warnings, _closed_warning(keep)])
    payload = {
        "keep": {"kind": "backlog_item", "item_id": keep.id, "title": keep.title, "closed": keep.closed},
        "fold_in": {"kind": "suggestion", "item_id": fold_in.id, "title": (fold_in.payload or {}).get("title", "")},
        "score": candidate["score"],
        "verdict": candidate["verdict"],
    }
    inputs = {"suggestion_id": fold_in.id, "backlog_item_id": keep.id}
    evidence = {"duplicates": [candidate]}
    return create_suggestion(session, SuggestionKind.merge, proposal.with_payload(payload), inputs, evidence, actor)


def _closed_warning(item: BacklogItem) -> str:
    return (
        f"backlog item {item.id} is closed (done or cancelled in its tracker): accepting folds this into finished "
        "work; if it asks for that work again (a regression, a change), reject the merge and keep it as new work"
    )


def accept_merge(session: Session, merge: Suggestion, edits: None, actor: str | None) -> BacklogItem:
    """Fold the duplicate into the kept item: a pending draft is closed as merged, a backlog item is marked
    merged; the kept item's description notes what was folded in."""
    keep = session.get(BacklogItem, merge.payload["keep"]["item_id"])
    if keep is None or keep.merged_into_id is not None:
        raise Conflict(f"the item to keep ({merge.payload['keep']['item_id']}) is gone or was merged away")
    claim(session, merge, SuggestionStatus.accepted, actor, None)
    fold_in = merge.payload["fold_in"]
    if fold_in["kind"] == "suggestion":
        duplicate = get_suggestion(session, fold_in["item_id"])
        if duplicate.status != SuggestionStatus.pending:
            raise Conflict(f"suggestion {duplicate.id} is already {duplicate.status}; nothing left to merge")
        claim(
            session,
            duplicate,
            SuggestionStatus.rejected,
            actor,
            f"merged into backlog item {keep.id} (merge {merge.id})",
        )
        record_event(session, duplicate.id, SuggestionAction.merged, actor, duplicate.payload, None)
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
    record_event(session, merge.id, SuggestionAction.accepted, actor, merge.payload, merge.payload)
    return keep


def draft_decided(runtime: Runtime, draft: Suggestion, item: BacklogItem | None) -> None:
    """A decided draft leaves the index; the backlog item an accepted one became enters it."""
    unindex(runtime, [suggestion_document_id(draft.id)])
    if item is not None:
        index(runtime, [item_document(item)])


def draft_reopened(runtime: Runtime, draft: Suggestion, item_id: int | None) -> None:
    """A draft whose decision was undone is searchable again; the item an undone acceptance deleted is not."""
    if item_id is not None:
        unindex(runtime, [item_document_id(item_id)])
    index(runtime, [suggestion_document(draft)])


def merge_decided(runtime: Runtime, merge: Suggestion, item: BacklogItem | None) -> None:
    """An accepted merge takes what was folded in out of the index and re-indexes the kept item (its description
    now notes the duplicate); a rejected merge changes nothing."""
    if merge.status != SuggestionStatus.accepted:
        return
    fold_in = merge.payload["fold_in"]
    unindex(runtime, [f"{fold_in['kind']}:{fold_in['item_id']}"])
    if item is not None and item.merged_into_id is None:
        index(runtime, [item_document(item)])
