"""Prioritization as a background job: one LLM call per item takes 30-45 s locally, so a request for many items
returns at once with a job whose status counts the items estimated so far. Each estimate is a piece: a cancelled
job starts no more of them and makes no suggestion (the ranking needs every estimate)."""

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
from service.prioritization.schemas import PrioritizeJobPublic

log = logging.getLogger(__name__)


def create_job(runtime: Runtime, framework: Framework, item_ids: list[int] | None, actor: str | None) -> int:
    """Check the request now (unknown ids, too many, an empty backlog are 4xx) and queue the job."""
    with runtime.db.session() as session:
        items = select_items(session, item_ids, service.MAX_ITEMS, "prioritize")
        jobs.ensure_capacity(session, runtime.settings.max_active_jobs)
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
    if job.status in FINISHED or not jobs.claim(runtime, PrioritizeJob, job_id, started_at=utcnow(), processed=0):
        return

    def progress(done: int, _total: int) -> None:
        runtime.db.update(PrioritizeJob, job_id, processed=done)

    def piece() -> None:  # before each estimate
        jobs.stop_if_cancelled(runtime, PrioritizeJob, job_id)

    try:
        ranked = service.prioritize(runtime, job.framework, job.item_ids, job.actor, progress, piece)
    except jobs.Cancelled:
        log.info("prioritization job %s stopped: it was cancelled", job_id)
        return
    except (DomainError, LLMUnavailable) as exc:  # e.g. every item was deleted meanwhile, no model
        jobs.finish(runtime, PrioritizeJob, job_id, JobStatus.failed, errors=[str(exc)])
        return
    except Exception as exc:
        log.exception("prioritization job %s failed", job_id)
        jobs.finish(runtime, PrioritizeJob, job_id, JobStatus.failed, errors=[f"{type(exc).__name__}: {exc}"])
        return
    failed = job.total - len(ranked)
    errors = [f"{failed} estimate(s) failed validation: see the failed priority suggestions"] if failed else []
    status = jobs.outcome(job.total, failed)
    if status == JobStatus.failed:
        errors.append("every estimate failed, so nothing was ranked: the reasons are on the failed suggestions")
    jobs.finish(runtime, PrioritizeJob, job_id, status, ranked=ranked, failed=failed, errors=errors)


def eta_seconds(job: PrioritizeJob) -> float | None:
    """Seconds left at the pace so far, once an item is done."""
    if job.status != JobStatus.running:
        return None
    return jobs.eta_seconds(job.started_at, job.processed, job.total - job.processed)


def public(job: PrioritizeJob) -> PrioritizeJobPublic:
    """The job's status as clients see it."""
    return PrioritizeJobPublic.model_validate(job).model_copy(update={"eta_s": eta_seconds(job)})


JOB = jobs.JobKind("prioritize", PrioritizeJob, run_job, public)
