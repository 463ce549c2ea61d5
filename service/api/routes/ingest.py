from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from sqlalchemy import select

from pipelines.tickets import MappingError, UnsupportedFile, parse_mapping
from service import ingest
from service.api.deps import RuntimeDep
from service.schemas import JobCreated, JobPublic
from service.tables import IngestJob

router = APIRouter(tags=["ingest"])


def job_public(job: IngestJob) -> JobPublic:
    public = JobPublic.model_validate(job)
    public.eta_s = ingest.eta_seconds(job)
    return public


@router.post("/v1/ingest", status_code=202, response_model=JobCreated)
async def post_ingest(
    request: Request,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="CSV, JSON array or JSONL of tickets or reviews.")],
    map: Annotated[
        list[str] | None, Form(description="Column mapping, repeatable: field=Column, e.g. body=Description.")
    ] = None,
    product: Annotated[str | None, Form(max_length=300, description="What the product is (for drafting).")] = None,
    source: Annotated[str | None, Form(max_length=300, description="Source name; default: the file name.")] = None,
    min_theme_size: Annotated[int, Form(ge=2, le=1000, description="Fewest tickets that make a theme.")] = 3,
) -> JobCreated:
    """Store the file and start a job that turns it into themes and suggestions; poll the status URL."""
    data = await file.read(ingest.MAX_UPLOAD_BYTES + 1)
    filename = file.filename or "upload"
    try:
        mapping = parse_mapping(map or [])
        job = ingest.create_job(runtime, data, filename, mapping, product, source, min_theme_size)
    except (MappingError, UnsupportedFile, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    request.app.state.jobs.submit(job.id)
    return JobCreated(job_id=job.id, status_url=f"/v1/jobs/{job.id}")


@router.get("/v1/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: int, runtime: RuntimeDep) -> JobPublic:
    return job_public(ingest.get_job(runtime, job_id))


@router.get("/v1/jobs", response_model=list[JobPublic])
def list_jobs(runtime: RuntimeDep, limit: int = Query(50, ge=1, le=500)) -> list[JobPublic]:
    """Newest first."""
    with runtime.db.session() as session:
        jobs = session.scalars(select(IngestJob).order_by(IngestJob.id.desc()).limit(limit)).all()
        return [job_public(j) for j in jobs]
