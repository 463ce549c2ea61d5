from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from service import prioritize
from service.api.deps import ActorDep, RuntimeDep
from service.schemas import (
    BacklogItemPublic,
    PrioritizeRequest,
    PriorityUpdate,
    SprintPlanRequest,
    StrategyPublic,
    StrategyUpdate,
    SuggestionPublic,
)

router = APIRouter(tags=["prioritization"])


@router.put("/v1/strategy", response_model=StrategyPublic)
def put_strategy(body: StrategyUpdate, runtime: RuntimeDep, actor: ActorDep) -> StrategyPublic:
    """Replace the product goals / OKRs that priority estimates align items with (earlier versions are kept)."""
    return StrategyPublic.model_validate(prioritize.set_strategy(runtime, body.text, actor))


@router.get("/v1/strategy", response_model=StrategyPublic)
def get_strategy(runtime: RuntimeDep) -> StrategyPublic:
    with runtime.db.session() as session:
        strategy = prioritize.current_strategy(session)
        if strategy is None:
            raise HTTPException(status_code=404, detail='no strategy set yet: PUT /v1/strategy {"text": ...}')
        return StrategyPublic.model_validate(strategy)


@router.post("/v1/prioritize", status_code=201)
def post_prioritize(body: PrioritizeRequest, runtime: RuntimeDep, actor: ActorDep) -> list[dict[str, Any]]:
    """Estimate inputs per item (one LLM call each), compute scores and a dependency-respecting rank, and create
    one pending `priority` suggestion per item. Returns the ranked view (best first)."""
    return prioritize.prioritize(runtime, body.framework, body.item_ids, actor)


@router.patch("/v1/backlog/{item_id}/priority", response_model=BacklogItemPublic)
def set_priority(item_id: int, body: PriorityUpdate, runtime: RuntimeDep, actor: ActorDep) -> BacklogItemPublic:
    """Set a priority by hand; no suggestion made before this can overwrite it."""
    with runtime.db.session() as session:
        return BacklogItemPublic.model_validate(prioritize.set_priority_by_hand(session, item_id, body.priority, actor))


@router.post("/v1/sprints/plan", status_code=201, response_model=SuggestionPublic)
def plan_sprint(body: SprintPlanRequest, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Propose the highest-ranked prioritized items that fit the capacity, dependencies first, as a suggestion."""
    return SuggestionPublic.model_validate(prioritize.propose_sprint(runtime, body.capacity_points, actor))
