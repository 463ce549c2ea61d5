from __future__ import annotations

from fastapi import APIRouter, Body, Query

from service.core import suggestions
from service.core.deps import ActorDep, RuntimeDep
from service.core.enums import SuggestionKind, SuggestionStatus
from service.core.schemas import BacklogItemPublic, SuggestionPublic
from service.review import decisions
from service.review.schemas import AcceptRequest, RejectRequest, SuggestionEventPublic

router = APIRouter(prefix="/v1/suggestions", tags=["review"])


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
        found = suggestions.list_suggestions(session, status, kind, limit, offset)
        return [SuggestionPublic.model_validate(s) for s in found]


@router.get("/{suggestion_id}", response_model=SuggestionPublic)
def get_suggestion(suggestion_id: int, runtime: RuntimeDep) -> SuggestionPublic:
    with runtime.db.session() as session:
        return SuggestionPublic.model_validate(suggestions.get_suggestion(session, suggestion_id))


@router.get("/{suggestion_id}/history", response_model=list[SuggestionEventPublic])
def get_history(suggestion_id: int, runtime: RuntimeDep) -> list[SuggestionEventPublic]:
    """Every change to the suggestion, oldest first, with the payload before and after."""
    with runtime.db.session() as session:
        return [SuggestionEventPublic.model_validate(e) for e in suggestions.history(session, suggestion_id)]


@router.post("/{suggestion_id}/accept", status_code=201, response_model=BacklogItemPublic | None)
def accept(
    suggestion_id: int, runtime: RuntimeDep, actor: ActorDep, body: AcceptRequest | None = Body(None)
) -> BacklogItemPublic | None:
    """Accept a pending suggestion. A story draft (optionally edited) creates and returns its backlog item; a merge
    folds the duplicate into the kept item and returns that item; evidence attaches tickets to the item; a
    priority (optionally with `input_edits`, re-scored) is written to the item; a sprint plan returns null."""
    body = body or AcceptRequest()
    item = decisions.accept(runtime, suggestion_id, body.edits, body.input_edits, body.decided_by or actor)
    return BacklogItemPublic.model_validate(item) if item is not None else None


@router.post("/{suggestion_id}/reject", response_model=SuggestionPublic)
def reject(suggestion_id: int, body: RejectRequest, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Reject a pending suggestion; the reason is kept."""
    return SuggestionPublic.model_validate(
        decisions.reject(runtime, suggestion_id, body.reason, body.decided_by or actor)
    )
