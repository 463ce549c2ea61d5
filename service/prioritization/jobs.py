"""Prioritization as a background job: one LLM call per item takes 30-45 s locally, so a request for many items
returns at once with a job whose status counts the items estimated so far."""

from __future__ import annotations

import logging

from pipelines.llm import LLMUnavailable
from pipelines.prioritization import Framework
from service.backlog.service import select_items
from service.core import jobs
from service.core.enums import FINISHED, JobStatus
from service.core.errors import DomainError
from service.core.runtime import Runtime
from service.core.tables import PrioritizeJob, utcnow
from service.prioritization import service

log = logging.getLogger(__name__)


def create_job(runtime: Runtime, framework: Framework, item_ids: list[int] | None, actor: str | None) -> int:
    """Check the request now (unknown ids, too many, an empty backlog are 4xx) and queue the job."""
    with runtime.db.session() as session:
        items = select_items(session, item_ids, service.MAX_ITEMS, "prioritize")
        job = PrioritizeJob(framework=framework, item_ids=[i.id for i in items], actor=actor, total=len(items))
        session.add(job)
        session.flush()
        return job.id


def get_job(runtime: Runtime, job_id: int) -> PrioritizeJob:
    return jobs.get_job(runtime, PrioritizeJob, job_id, "prioritization")


def run_job(runtime: Runtime, job_id: int) -> None:
    """Estimate, rank and propose. A job left running by a crash is run again from the start at the next server
    start (estimates are kept only as the suggestions made at the end)."""
    job = get_job(runtime, job_id)
    if job.status in FINISHED:
        return
    update = runtime.db.update
    update(PrioritizeJob, job_id, status=JobStatus.running, started_at=utcnow(), processed=0)
    try:
        ranked = service.prioritize(
            runtime,
            job.framework,
            job.item_ids,
            job.actor,
            lambda done, _total: update(PrioritizeJob, job_id, processed=done),
        )
    except (DomainError, LLMUnavailable) as exc:  # e.g. every item was deleted meanwhile, no model
        update(PrioritizeJob, job_id, status=JobStatus.failed, errors=[str(exc)], finished_at=utcnow())
        return
    except Exception as exc:
        log.exception("prioritization job %s failed", job_id)
        errors = [f"{type(exc).__name__}: {exc}"]
        update(PrioritizeJob, job_id, status=JobStatus.failed, errors=errors, finished_at=utcnow())
        return
    failed = job.total - len(ranked)
    errors = [f"{failed} estimate(s) failed validation: see the failed priority suggestions"] if failed else []
    update(
        PrioritizeJob, job_id, status=JobStatus.done, ranked=ranked, failed=failed, errors=errors, finished_at=utcnow()
    )


JOB = jobs.JobKind("prioritize", PrioritizeJob, run_job)


def eta_seconds(job: PrioritizeJob) -> float | None:
    """Seconds left at the pace so far, once an item is done."""
    if job.status != JobStatus.running:
        return None
    return jobs.eta_seconds(job.started_at, job.processed, job.total - job.processed)
