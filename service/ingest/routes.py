from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from sqlalchemy import select

from pipelines.tickets import MappingError, UnsupportedFile, parse_mapping
from service.core.deps import JobsDep, RuntimeDep
from service.core.schemas import JobCreated
from service.core.tables import IngestJob
from service.ingest import jobs
from service.ingest.schemas import IngestJobPublic

router = APIRouter(tags=["ingest"])


def job_public(job: IngestJob) -> IngestJobPublic:
    return IngestJobPublic.model_validate(job).model_copy(update={"eta_s": jobs.eta_seconds(job)})


@router.post("/v1/ingest", status_code=202, response_model=JobCreated)
async def post_ingest(
    runtime: RuntimeDep,
    runner: JobsDep,
    file: Annotated[UploadFile, File(description="CSV, JSON array or JSONL of tickets or reviews.")],
    map: Annotated[
        list[str] | None, Form(description="Column mapping, repeatable: field=Column, e.g. body=Description.")
    ] = None,
    product: Annotated[str | None, Form(max_length=300, description="What the product is (for drafting).")] = None,
    source: Annotated[str | None, Form(max_length=300, description="Source name; default: the file name.")] = None,
    min_theme_size: Annotated[int, Form(ge=2, le=1000, description="Fewest tickets that make a theme.")] = 3,
) -> JobCreated:
    """Store the file and its tickets and start a job that turns them into themes and suggestions; poll the
    status URL."""
    data = await file.read(jobs.MAX_UPLOAD_BYTES + 1)
    filename = file.filename or "upload"
    try:
        mapping = parse_mapping(map or [])
        job = jobs.create_job(runtime, data, filename, mapping, product, source, min_theme_size)
    except (MappingError, UnsupportedFile, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    runner.submit(jobs.JOB, job.id)
    return JobCreated(job_id=job.id, status_url=f"/v1/ingest/jobs/{job.id}")


@router.get("/v1/ingest/jobs/{job_id}", response_model=IngestJobPublic)
@router.get("/v1/jobs/{job_id}", response_model=IngestJobPublic, deprecated=True, summary="Get Ingest Job (old path)")
def get_job(job_id: int, runtime: RuntimeDep) -> IngestJobPublic:
    return job_public(jobs.get_job(runtime, job_id))


@router.get("/v1/ingest/jobs", response_model=list[IngestJobPublic])
@router.get("/v1/jobs", response_model=list[IngestJobPublic], deprecated=True, summary="List Ingest Jobs (old path)")
def list_jobs(runtime: RuntimeDep, limit: int = Query(50, ge=1, le=500)) -> list[IngestJobPublic]:
    """Newest first."""
    with runtime.db.session() as session:
        found = session.scalars(select(IngestJob).order_by(IngestJob.id.desc()).limit(limit)).all()
        return [job_public(j) for j in found]
