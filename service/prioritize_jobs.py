"""Prioritization as a background job: one LLM call per item takes 30-45 s locally, so a request for many items
returns at once with a job whose status counts the items estimated so far."""

from __future__ import annotations

import logging
from typing import Any

from pipelines.llm import LLMUnavailable
from pipelines.prioritization import Framework
from service import prioritize, review
from service.runtime import Runtime
from service.tables import PrioritizeJob, utcnow

log = logging.getLogger(__name__)


def create_job(runtime: Runtime, framework: Framework, item_ids: list[int] | None, actor: str | None) -> int:
    """Check the request now (unknown ids, too many, an empty backlog are 4xx) and queue the job."""
    with runtime.db.session() as session:
        items = prioritize.select_items(session, item_ids)
        job = PrioritizeJob(framework=framework, item_ids=[i.id for i in items], actor=actor, total=len(items))
        session.add(job)
        session.flush()
        return job.id


def get_job(runtime: Runtime, job_id: int) -> PrioritizeJob:
    job = runtime.db.get(PrioritizeJob, job_id)
    if job is None:
        raise review.NotFound(f"no prioritization job with id {job_id}")
    return job


def _update(runtime: Runtime, job_id: int, **values: Any) -> None:
    runtime.db.update(PrioritizeJob, job_id, **values)


def run_job(runtime: Runtime, job_id: int) -> None:
    """Estimate, rank and propose. A job left running by a crash is run again from the start at the next server
    start (estimates are kept only as the suggestions made at the end)."""
    job = get_job(runtime, job_id)
    if job.status in ("done", "failed"):
        return
    _update(runtime, job_id, status="running", started_at=utcnow(), processed=0)
    try:
        ranked = prioritize.prioritize(
            runtime,
            job.framework,
            job.item_ids,
            job.actor,
            lambda done, _total: _update(runtime, job_id, processed=done),
        )
    except (review.ReviewError, LLMUnavailable) as exc:  # e.g. every item was deleted meanwhile, no model
        _update(runtime, job_id, status="failed", errors=[str(exc)], finished_at=utcnow())
        return
    except Exception as exc:
        log.exception("prioritization job %s failed", job_id)
        _update(runtime, job_id, status="failed", errors=[f"{type(exc).__name__}: {exc}"], finished_at=utcnow())
        return
    failed = job.total - len(ranked)
    errors = [f"{failed} estimate(s) failed validation: see the failed priority suggestions"] if failed else []
    _update(runtime, job_id, status="done", ranked=ranked, failed=failed, errors=errors, finished_at=utcnow())


def eta_seconds(job: PrioritizeJob) -> float | None:
    """Seconds left at the pace so far, once an item is done."""
    if job.status != "running" or not job.processed or job.started_at is None:
        return None
    elapsed = (utcnow() - job.started_at).total_seconds()
    return round(elapsed / job.processed * (job.total - job.processed), 1)
