from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select

from pipelines.tickets import MappingError, UnsupportedFile, parse_mapping
from service.core import jobs as core_jobs
from service.core.deps import ActorDep, JobsDep, RuntimeDep
from service.core.schemas import IdPath, JobCreated, JobPublic, errors
from service.core.tables import IngestJob
from service.ingest import jobs, service
from service.ingest.schemas import IngestJobPublic, ThemePublic, UnthemedPublic

router = APIRouter(tags=["ingest"])


def job_public(job: IngestJob) -> IngestJobPublic:
    return service.public(job)


@router.post("/v1/ingest", status_code=202, response_model=JobCreated, responses=errors(400, 413, 422, 429))
def post_ingest(
    runtime: RuntimeDep,
    runner: JobsDep,
    file: Annotated[UploadFile, File(description="CSV, JSON array or JSONL of tickets or reviews.")],
    map: Annotated[
        list[str] | None, Form(description="Column mapping, repeatable: field=Column, e.g. body=Description.")
    ] = None,
    product: Annotated[str | None, Form(max_length=300, description="What the product is (for drafting).")] = None,
    source: Annotated[str | None, Form(max_length=300, description="Source name; default: the file name.")] = None,
    min_theme_size: Annotated[int, Form(ge=2, le=1000, description="Fewest tickets that make a theme.")] = 3,
    force: Annotated[bool, Form(description="Start a job even when the same bytes were uploaded before.")] = False,
) -> JobCreated:
    """Store the file and its tickets and start a job that turns them into themes and suggestions; poll the
    status URL."""
    data = file.file.read(service.MAX_UPLOAD_BYTES + 1)  # a plain def: parsing the file runs off the event loop
    filename = file.filename or "upload"
    try:
        mapping = parse_mapping(map or [])
        job = service.create_job(runtime, data, filename, mapping, product, source, min_theme_size, force)
    except (MappingError, UnsupportedFile, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    runner.submit(jobs.JOB, job.id)
    return JobCreated(job_id=job.id, status_url=f"/v1/ingest/jobs/{job.id}")


@router.get("/v1/ingest/jobs/{job_id}", response_model=IngestJobPublic, responses=errors(404))
@router.get(
    "/v1/jobs/{job_id}",
    response_model=IngestJobPublic,
    responses=errors(404),
    deprecated=True,
    summary="Get Ingest Job (old path)",
)
def get_job(job_id: IdPath, runtime: RuntimeDep) -> IngestJobPublic:
    return job_public(service.get_job(runtime, job_id))


@router.get("/v1/ingest/jobs/{job_id}/themes", response_model=list[ThemePublic], responses=errors(404))
def get_themes(job_id: IdPath, runtime: RuntimeDep) -> list[ThemePublic]:
    """The job's themes, largest first: tickets, the suggestion made from it, and tickets per week."""
    return service.themes(runtime, job_id)


@router.get("/v1/ingest/jobs/{job_id}/unthemed", response_model=UnthemedPublic, responses=errors(404))
def get_unthemed(
    job_id: IdPath, runtime: RuntimeDep, limit: int = Query(200, ge=1, le=5000, description="Tickets listed at most.")
) -> UnthemedPublic:
    """The job's bugs, feature requests and questions that joined no theme: counts by category, and each ticket with
    the evidence suggestion proposing it for a backlog item it reads like, if any."""
    return service.unthemed(runtime, job_id, limit)


@router.post(
    "/v1/jobs/{job_id}/cancel",
    tags=["jobs"],
    response_class=JSONResponse,
    responses={200: {"model": JobPublic}} | errors(404, 409, 422),
)
def cancel_job(
    job_id: IdPath,
    runtime: RuntimeDep,
    runner: JobsDep,
    actor: ActorDep,
    kind: str | None = Query(
        None,
        description="ingest, prioritize, refine, conversation, push, pull or import. Ids are per kind: without it, "
        "the only kind with a job of this id (422 when several have one).",
    ),
) -> JSONResponse:
    """Cancel a job of any kind: a queued one at once, a running one at its next piece (a ticket batch, a theme, an
    item, a chunk, a page of a tracker's issues; the piece in progress and everything before it are kept; an import
    whose rows are written runs to its end). 409 for a job that has already ended.
    Answers the job's status as its status URL shows it, with its `kind`."""
    found = core_jobs.find_kind(runtime, runner.kinds, job_id, kind)
    job = core_jobs.cancel(runtime, found, job_id, actor)
    status = found.public(job) if found.public else JobPublic.model_validate(job)
    return JSONResponse({**jsonable_encoder(status), "kind": found.name})


@router.get("/v1/ingest/jobs", response_model=list[IngestJobPublic])
@router.get("/v1/jobs", response_model=list[IngestJobPublic], deprecated=True, summary="List Ingest Jobs (old path)")
def list_jobs(runtime: RuntimeDep, limit: int = Query(50, ge=1, le=500)) -> list[IngestJobPublic]:
    """Newest first."""
    with runtime.db.session() as session:
        found = session.scalars(select(IngestJob).order_by(IngestJob.id.desc()).limit(limit)).all()
        return [job_public(j) for j in found]
