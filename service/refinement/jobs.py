"""A refinement run as a background job: per item, the quality check, then a rewrite (unclear items), a split (items
too large for a sprint) and an estimate (items without points). Items are refined several at once on the model's
parallel slots; the job's status counts items done, findings and suggestions made."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, as_completed

from sqlalchemy import update

from pipelines.llm import LLMUnavailable
from service.backlog.service import get_item, select_items
from service.core import jobs
from service.core.enums import FINISHED, JobStatus
from service.core.errors import DomainError
from service.core.runtime import Runtime
from service.core.tables import RefineJob, utcnow
from service.refinement import service

log = logging.getLogger(__name__)
MAX_ITEMS = 500


def create_job(runtime: Runtime, item_ids: list[int] | None, actor: str | None) -> RefineJob:
    """Check the request now (unknown ids, an empty backlog are 4xx) and queue the job."""
    with runtime.db.session() as session:
        found = [i.id for i in select_items(session, item_ids, MAX_ITEMS, "refine")]
        job = RefineJob(item_ids=found, actor=actor, total=len(found))
        session.add(job)
        session.flush()
        return job


def get_job(runtime: Runtime, job_id: int) -> RefineJob:
    return jobs.get_job(runtime, RefineJob, job_id, "refinement")


def refine_item(runtime: Runtime, item_id: int, actor: str | None) -> tuple[int, int]:
    """(findings, suggestions) for one item; suggestions already pending for the unchanged item are not made again
    (they are counted, as the item's current suggestions)."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
    found = service.findings(runtime, item)  # once for both: the duplicate search is not free
    rewrite, _ = service.propose_rewrite(runtime, item_id, actor, found)
    split, _ = service.propose_split(runtime, item_id, actor, found)
    estimate = None if item.story_points is not None else service.propose_estimate(runtime, item_id, actor)
    return len(found), sum(s is not None for s in (rewrite, split, estimate))


def _count(runtime: Runtime, job_id: int, **increments: int) -> None:
    with runtime.db.session() as session:
        values = {name: getattr(RefineJob, name) + n for name, n in increments.items()}
        session.execute(update(RefineJob).where(RefineJob.id == job_id).values(**values))


def run_job(runtime: Runtime, job_id: int) -> None:
    """Refine every item of the job. Re-running a job (after a crash) skips what is still pending unchanged."""
    job = get_job(runtime, job_id)
    if job.status in FINISHED:
        return
    update_job = runtime.db.update
    update_job(RefineJob, job_id, status=JobStatus.running, started_at=utcnow(), processed=0, findings=0, suggestions=0)
    errors: list[str] = []
    try:
        workers = runtime.llm().background_parallelism
    except LLMUnavailable as exc:
        update_job(RefineJob, job_id, status=JobStatus.failed, errors=[str(exc)], finished_at=utcnow())
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(refine_item, runtime, i, job.actor): i for i in job.item_ids}
        for future in as_completed(futures):
            try:
                found, made = future.result()
                _count(runtime, job_id, processed=1, findings=found, suggestions=made)
            except (DomainError, LLMUnavailable) as exc:  # e.g. the item was deleted meanwhile
                errors.append(f"item {futures[future]}: {exc}")
                _count(runtime, job_id, processed=1, failed=1)
            except Exception as exc:
                log.exception("refining item %s failed", futures[future])
                errors.append(f"item {futures[future]}: {type(exc).__name__}: {exc}")
                _count(runtime, job_id, processed=1, failed=1)
    update_job(RefineJob, job_id, status=JobStatus.done, errors=errors[:50], finished_at=utcnow())


JOB = jobs.JobKind("refine", RefineJob, run_job)


def eta_seconds(job: RefineJob) -> float | None:
    if job.status != JobStatus.running:
        return None
    return jobs.eta_seconds(job.started_at, job.processed, job.total - job.processed)
