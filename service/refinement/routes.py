from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from pipelines.quality import Readiness
from service.core.deps import ActorDep, JobsDep, RuntimeDep
from service.core.ratelimit import ModelCallLimit
from service.core.runtime import Runtime
from service.core.schemas import BacklogItemPublic, IdPath, JobCreated, SuggestionPublic, errors
from service.core.streaming import in_model_pool
from service.refinement import jobs, points_model, service
from service.refinement.record import estimate_record
from service.refinement.schemas import (
    EstimateLearningPublic,
    NoLabels,
    QualityReport,
    QueuedSuggestion,
    QueueEntry,
    ReadinessPublic,
    RefineJobPublic,
    RefineRequest,
)

router = APIRouter(tags=["refinement"])
NONE_NEEDED = {200: {"model": QualityReport, "description": "The item needs none: its findings (maybe empty)."}}
MODEL_WORK = {"responses": errors(404, 409, 422, 429, 503), "dependencies": [ModelCallLimit]}


@router.post("/v1/backlog/{item_id}/quality", response_model=QualityReport, **MODEL_WORK)
def quality(item_id: IdPath, runtime: RuntimeDep) -> QualityReport:
    """Findings against named criteria (well_formed, atomic, minimal, unambiguous, testable, estimable,
    duplicate), each with the exact span at fault, why, and a fix. No suggestion is made."""
    return QualityReport(findings=service.quality(runtime, item_id))


def _suggested(made: tuple) -> SuggestionPublic | JSONResponse:
    suggestion, found = made
    if suggestion is None:
        body = QualityReport(findings=found).model_dump(mode="json")
        return JSONResponse(status_code=200, content=body)
    return SuggestionPublic.model_validate(suggestion)


@router.post(
    "/v1/backlog/{item_id}/rewrite",
    status_code=201,
    response_model=SuggestionPublic,
    responses=NONE_NEEDED | MODEL_WORK["responses"],
    dependencies=MODEL_WORK["dependencies"],
)
async def rewrite(item_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic | JSONResponse:
    """A `rewrite` suggestion for an unclear item: the improved story, keeping its facts, asking what it does not
    say. An item with nothing a rewrite fixes gets 200 with its findings and no suggestion."""
    return _suggested(await in_model_pool(runtime, lambda: service.propose_rewrite(runtime, item_id, actor)))


@router.post(
    "/v1/backlog/{item_id}/split",
    status_code=201,
    response_model=SuggestionPublic,
    responses=NONE_NEEDED | MODEL_WORK["responses"],
    dependencies=MODEL_WORK["dependencies"],
)
async def split(item_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic | JSONResponse:
    """A `split` suggestion for an item too large for a sprint: `{pattern, children, coverage}`. An item small
    enough gets 200 with its findings and no suggestion."""
    return _suggested(await in_model_pool(runtime, lambda: service.propose_split(runtime, item_id, actor)))


@router.post("/v1/backlog/{item_id}/estimate", status_code=201, response_model=SuggestionPublic, **MODEL_WORK)
async def estimate(item_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """An `estimate` suggestion: `{points, rationale, comparables: [{item_id, title, points, score}], method}`;
    method `model` (the model alone) when no item has points yet."""
    return SuggestionPublic.model_validate(
        await in_model_pool(runtime, lambda: service.propose_estimate(runtime, item_id, actor))
    )


@router.post(
    "/v1/backlog/{item_id}/labels",
    status_code=201,
    response_model=SuggestionPublic,
    responses={200: {"model": NoLabels, "description": "No label stands out, and why."}} | errors(404, 409, 422, 429),
    dependencies=MODEL_WORK["dependencies"],
)
async def labels(item_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic | JSONResponse:
    """A `labels` suggestion: the labels the item lacks that its most similar labelled items agree on, `{labels,
    shares: [{label, share, items}], rationale, comparables: [{item_id, title, labels, score}]}`. When none stands
    out (too few labelled items like it, or they disagree), 200 with no labels and why."""
    suggestion, why = await in_model_pool(runtime, lambda: service.propose_labels(runtime, item_id, actor))
    if suggestion is None:
        return JSONResponse(status_code=200, content=NoLabels(why=why).model_dump(mode="json"))
    return SuggestionPublic.model_validate(suggestion)


@router.post("/v1/refine", status_code=202, response_model=JobCreated, responses=errors(400, 404, 413, 422, 429))
def post_refine(runtime: RuntimeDep, runner: JobsDep, actor: ActorDep, body: RefineRequest | None = None) -> JobCreated:
    """Start a refinement run over the chosen items (default: the whole backlog); poll the status URL."""
    job = jobs.create_job(runtime, body.item_ids if body else None, actor)
    runner.submit(jobs.JOB, job.id)
    return JobCreated(job_id=job.id, status_url=f"/v1/refine/jobs/{job.id}")


@router.get("/v1/refine/jobs/{job_id}", response_model=RefineJobPublic, responses=errors(404))
def get_refine_job(job_id: IdPath, runtime: RuntimeDep) -> RefineJobPublic:
    return jobs.public(jobs.get_job(runtime, job_id))


@router.get("/v1/refine/queue", response_model=list[QueueEntry])
def refine_queue(
    runtime: RuntimeDep,
    limit: int = Query(200, ge=1, le=1000),
    recheck: bool = Query(False, description="Check every item again instead of what changed since the last load."),
) -> list[QueueEntry]:
    """Items with findings or pending rewrite, split, estimate or labels suggestions, most findings first."""
    return [
        QueueEntry(
            item=BacklogItemPublic.model_validate(row["item"]),
            findings=row["findings"],
            suggestions=[
                QueuedSuggestion.model_validate(s).model_copy(update={"stale": is_stale, "thread_changed": changed})
                for s, is_stale, changed in row["suggestions"]
            ],
        )
        for row in service.queue(runtime, limit, recheck)
    ]


@router.get("/v1/estimates/learning", response_model=EstimateLearningPublic)
def estimate_learning(runtime: RuntimeDep) -> EstimateLearningPublic:
    """What this project's items with points taught its estimates: the team's own points model, when and on how
    many items it was fitted, whether a fit is running, and when it will be fitted again; and how its reviewers
    decided its estimates (kept, changed lower or higher and by how much, rejected)."""
    return _learning(runtime, points_model.learned(runtime))


def _learning(runtime: Runtime, learned: dict[str, Any]) -> EstimateLearningPublic:
    with runtime.db.session() as session:
        return EstimateLearningPublic(**learned, record=estimate_record(session))


@router.delete("/v1/estimates/learning", response_model=EstimateLearningPublic, responses=errors(409))
def refit_estimate_learning(runtime: RuntimeDep) -> EstimateLearningPublic:
    """Forget the team's points model and fit it again on the items with points as they are now (admins); 409 while
    a fit is running."""
    return _learning(runtime, points_model.refit(runtime))


@router.get("/v1/refine/readiness", response_model=ReadinessPublic)
def get_readiness(runtime: RuntimeDep) -> ReadinessPublic:
    """This project's Definition of Ready: the quality criteria it checks (the others find nothing) and the most
    points that fit a sprint (more are an `estimable` finding, and a reason to split)."""
    with runtime.db.session() as session:
        return ReadinessPublic.model_validate(service.readiness(session).model_dump())


@router.put("/v1/refine/readiness", response_model=ReadinessPublic, responses=errors(422))
def put_readiness(body: Readiness, runtime: RuntimeDep) -> ReadinessPublic:
    """Set this project's Definition of Ready (admins): every later quality check, refinement queue and run follows
    it; suggestions already made stay as they are. A field left out takes its default."""
    return ReadinessPublic.model_validate(service.set_readiness(runtime, body).model_dump())
