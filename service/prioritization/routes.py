from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service.core.deps import ActorDep, JobsDep, RuntimeDep
from service.core.ratelimit import ModelCallLimit
from service.core.schemas import BacklogItemPublic, IdPath, JobCreated, SuggestionPublic, errors
from service.prioritization import jobs, service
from service.prioritization.schemas import (
    PrioritizeJobPublic,
    PrioritizeRequest,
    PriorityUpdate,
    RankRequest,
    SprintPlanRequest,
    StrategyPublic,
    StrategyUpdate,
)

router = APIRouter(tags=["prioritization"])


@router.put("/v1/strategy", response_model=StrategyPublic, responses=errors(400, 413, 422))
def put_strategy(body: StrategyUpdate, runtime: RuntimeDep, actor: ActorDep) -> StrategyPublic:
    """Replace the product goals / OKRs that priority estimates align items with (earlier versions are kept)."""
    return StrategyPublic.model_validate(service.set_strategy(runtime, body.text, actor))


@router.get("/v1/strategy", response_model=StrategyPublic, responses=errors(404))
def get_strategy(runtime: RuntimeDep) -> StrategyPublic:
    with runtime.db.session() as session:
        strategy = service.current_strategy(session)
        if strategy is None:
            raise HTTPException(status_code=404, detail='no strategy set yet: PUT /v1/strategy {"text": ...}')
        return StrategyPublic.model_validate(strategy)


@router.post("/v1/prioritize", status_code=202, response_model=JobCreated, responses=errors(400, 404, 413, 422, 429))
def post_prioritize(body: PrioritizeRequest, runtime: RuntimeDep, runner: JobsDep, actor: ActorDep) -> JobCreated:
    """Start a job that estimates inputs per item (one LLM call each, 30-45 s on the local model), computes scores
    and a dependency-respecting rank, and creates one pending `priority` suggestion per item; poll the status URL
    for progress and, when done, the ranked view."""
    job_id = jobs.create_job(runtime, body.framework, body.item_ids, actor)
    runner.submit(jobs.JOB, job_id)
    return JobCreated(job_id=job_id, status_url=f"/v1/prioritize/jobs/{job_id}")


@router.get("/v1/prioritize/jobs/{job_id}", response_model=PrioritizeJobPublic, responses=errors(404))
def get_prioritize_job(job_id: IdPath, runtime: RuntimeDep) -> PrioritizeJobPublic:
    return jobs.public(jobs.get_job(runtime, job_id))


@router.patch(
    "/v1/backlog/{item_id}/priority", response_model=BacklogItemPublic, responses=errors(400, 404, 409, 413, 422)
)
def set_priority(item_id: IdPath, body: PriorityUpdate, runtime: RuntimeDep, actor: ActorDep) -> BacklogItemPublic:
    """Set a priority by hand; no suggestion made before this can overwrite it."""
    with runtime.db.session() as session:
        return BacklogItemPublic.model_validate(service.set_priority_by_hand(session, item_id, body.priority, actor))


@router.post("/v1/backlog/rank", response_model=list[BacklogItemPublic], responses=errors(404, 422))
def rank_items(body: RankRequest, runtime: RuntimeDep, actor: ActorDep) -> list[BacklogItemPublic]:
    """Move items in the backlog's order (the Backlog tab's, the sprint plan's, exports'): before or after an item,
    to the top or the bottom; each is placed by hand, so accepting a priority later reorders the others around it.
    `"to": "score"` gives them back to their scores. Unranked items above the new place are numbered too. Returns the
    moved items as they now stand; each one's history records the move."""
    with runtime.db.session() as session:
        moved = service.move_in_rank(session, body.item_ids, actor, body.before_id, body.after_id, body.to)
        return [BacklogItemPublic.model_validate(item) for item in moved]


@router.post(
    "/v1/sprints/plan",
    status_code=201,
    response_model=SuggestionPublic,
    responses=errors(400, 413, 422, 429, 503),
    dependencies=[ModelCallLimit],
)
def plan_sprint(body: SprintPlanRequest, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Propose the highest-ranked prioritized items that fit the capacity, dependencies first, as a suggestion."""
    return SuggestionPublic.model_validate(service.propose_sprint(runtime, body.capacity_points, actor))
