from __future__ import annotations

from fastapi import APIRouter, Body, HTTPException, Query
from sqlalchemy import select

from service import dedupe, review
from service.api.deps import ActorDep, RuntimeDep
from service.api.streaming import in_model_pool
from service.drafts import regenerate_draft
from service.schemas import (
    AcceptRequest,
    BacklogItemPublic,
    RegenerateRequest,
    RejectRequest,
    SuggestionEventPublic,
    SuggestionKind,
    SuggestionPublic,
    SuggestionStatus,
)
from service.tables import SuggestionEvent

router = APIRouter(prefix="/v1/suggestions", tags=["suggestions"])


@router.get("", response_model=list[SuggestionPublic])
def list_suggestions(
    runtime: RuntimeDep,
    status: SuggestionStatus | None = None,
    kind: SuggestionKind | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[SuggestionPublic]:
    """Newest first."""
    with runtime.db.session() as session:
        found = review.list_suggestions(session, status, kind, limit, offset)
        return [SuggestionPublic.model_validate(s) for s in found]


@router.get("/{suggestion_id}", response_model=SuggestionPublic)
def get_suggestion(suggestion_id: int, runtime: RuntimeDep) -> SuggestionPublic:
    with runtime.db.session() as session:
        return SuggestionPublic.model_validate(review.get_suggestion(session, suggestion_id))


@router.get("/{suggestion_id}/history", response_model=list[SuggestionEventPublic])
def get_history(suggestion_id: int, runtime: RuntimeDep) -> list[SuggestionEventPublic]:
    """Every change to the suggestion, oldest first, with the payload before and after."""
    with runtime.db.session() as session:
        review.get_suggestion(session, suggestion_id)
        events = session.scalars(
            select(SuggestionEvent).where(SuggestionEvent.suggestion_id == suggestion_id).order_by(SuggestionEvent.id)
        )
        return [SuggestionEventPublic.model_validate(e) for e in events]


@router.post("/{suggestion_id}/accept", status_code=201, response_model=BacklogItemPublic | None)
def accept(
    suggestion_id: int, runtime: RuntimeDep, actor: ActorDep, body: AcceptRequest | None = Body(None)
) -> BacklogItemPublic | None:
    """Accept a pending suggestion. A story draft (optionally edited) creates and returns its backlog item; a merge
    folds the duplicate into the kept item and returns that item; evidence attaches tickets to the item; a
    priority (optionally with `input_edits`, re-scored) is written to the item; a sprint plan returns null."""
    body = body or AcceptRequest()
    with runtime.db.session() as session:
        item = review.accept(session, suggestion_id, body.edits, body.decided_by or actor, body.input_edits)
        suggestion = review.get_suggestion(session, suggestion_id)
    dedupe.after_decision(runtime, suggestion, item)
    return BacklogItemPublic.model_validate(item) if item is not None else None


@router.post("/{suggestion_id}/reject", response_model=SuggestionPublic)
def reject(suggestion_id: int, body: RejectRequest, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Reject a pending suggestion; the reason is kept."""
    with runtime.db.session() as session:
        suggestion = review.reject(session, suggestion_id, body.reason, body.decided_by or actor)
        result = SuggestionPublic.model_validate(suggestion)
    dedupe.after_decision(runtime, suggestion, None)
    return result


@router.post("/{suggestion_id}/regenerate", response_model=SuggestionPublic)
async def regenerate(
    suggestion_id: int, runtime: RuntimeDep, actor: ActorDep, body: RegenerateRequest | None = Body(None)
) -> SuggestionPublic:
    """Draft a pending or failed story suggestion again, replacing its draft (the old one stays in history)."""
    body = body or RegenerateRequest()
    try:
        suggestion = await in_model_pool(
            runtime, lambda: regenerate_draft(runtime, suggestion_id, body.text, body.context, actor)
        )
    except ValueError as exc:  # input the pipeline refuses
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return SuggestionPublic.model_validate(suggestion)
