"""A refinement run as a background job: per item, the quality check, then a rewrite (unclear items), a split (items
too large for a sprint), an estimate (items without points) and labels (items without labels, when similar items
agree on some); what a person rejected for the item as it is now is not made again. Items are refined several at
once on the model's parallel slots; the job's status counts items done, findings and suggestions made. Each item is a
piece: a cancelled job refines no more items (those in progress finish and are kept). An item whose suggestion failed
counts as failed, with why in the errors; a run where every item failed has failed."""

from __future__ import annotations

import logging
from concurrent.futures import as_completed
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from pipelines.llm import LLMUnavailable
from service.backlog.service import get_item, select_items
from service.core import jobs
from service.core.enums import FINISHED, JobStatus, SuggestionKind, SuggestionStatus
from service.core.errors import DomainError
from service.core.runtime import ContextThreadPool, Runtime
from service.core.tables import RefineJob, utcnow
from service.refinement import service
from service.refinement.schemas import RefineJobPublic

log = logging.getLogger(__name__)
MAX_ITEMS = 500


def create_job(runtime: Runtime, item_ids: list[int] | None, actor: str | None) -> RefineJob:
    """Check the request now (unknown ids, an empty backlog are 4xx) and queue the job."""
    with runtime.db.session() as session:
        found = [i.id for i in select_items(session, item_ids, MAX_ITEMS, "refine")]
        jobs.ensure_capacity(session, runtime.settings.max_active_jobs)
        job = RefineJob(item_ids=found, actor=actor, total=len(found))
        session.add(job)
        session.flush()
        return job


def get_job(runtime: Runtime, job_id: int) -> RefineJob:
    return jobs.get_job(runtime, RefineJob, job_id, "refinement")


def refine_item(
    runtime: Runtime, item_id: int, actor: str | None, since: datetime | None = None
) -> tuple[int, int, list[str]]:
    """(findings, suggestions, why each failed suggestion failed) for one item; suggestions already pending for the
    unchanged item, or failed since `since` (the job's start), are not made again (they are counted, as the item's
    current suggestions)."""
    with runtime.db.session() as session:
        item = get_item(session, item_id, merged=False)
        skip = service.dismissed(session, item)  # what a person rejected for the item as it is: not made again
        if item.story_points is not None or service.epics_among(session, [item_id]):  # an epic: sized by its children
            skip.add(SuggestionKind.estimate)
        if item.labels:
            skip.add(SuggestionKind.labels)
    found = service.findings(runtime, item)  # once for both: the duplicate search is not free
    proposals = {
        SuggestionKind.rewrite: lambda: service.propose_rewrite(runtime, item_id, actor, found, since)[0],
        SuggestionKind.split: lambda: service.propose_split(runtime, item_id, actor, found, since)[0],
        SuggestionKind.estimate: lambda: service.propose_estimate(runtime, item_id, actor, since),
        SuggestionKind.labels: lambda: service.propose_labels(runtime, item_id, actor, since)[0],
    }
    made = [s for kind, propose in proposals.items() if kind not in skip and (s := propose()) is not None]
    failures = [
        f"item {item_id}: the {s.kind} suggestion failed: {s.reason} (suggestion {s.id})"
        for s in made
        if s.status == SuggestionStatus.failed
    ]
    return len(found), len(made) - len(failures), failures


def _refine_piece(runtime: Runtime, job: RefineJob, item_id: int) -> tuple[int, int, list[str]] | None:
    """One item, unless the job was cancelled (then None)."""
    if jobs.is_cancelled(runtime, RefineJob, job.id):
        return None
    return refine_item(runtime, item_id, job.actor, job.created_at)


def _count(runtime: Runtime, job_id: int, **increments: int) -> None:
    with runtime.db.session() as session:
        values = {name: getattr(RefineJob, name) + n for name, n in increments.items()}
        session.execute(update(RefineJob).where(RefineJob.id == job_id).values(**values))


def run_job(runtime: Runtime, job_id: int) -> None:
    """Refine every item of the job. Re-running a job (after a crash) skips what is still pending unchanged."""
    job = get_job(runtime, job_id)
    started = dict(started_at=utcnow(), processed=0, failed=0, findings=0, suggestions=0)
    if job.status in FINISHED or not jobs.claim(runtime, RefineJob, job_id, **started):
        return
    errors: list[str] = []
    try:
        workers = runtime.llm().background_parallelism
    except LLMUnavailable as exc:
        jobs.finish(runtime, RefineJob, job_id, JobStatus.failed, errors=[str(exc)])
        return
    with ContextThreadPool(max_workers=workers) as pool:
        futures = {pool.submit(_refine_piece, runtime, job, i): i for i in job.item_ids}
        for future in as_completed(futures):
            try:
                if (result := future.result()) is None:
                    continue  # cancelled before it started
                found, made, failures = result
                errors += failures
                _count(runtime, job_id, processed=1, findings=found, suggestions=made, failed=int(bool(failures)))
            except (DomainError, LLMUnavailable) as exc:  # e.g. the item was deleted meanwhile
                errors.append(f"item {futures[future]}: {exc}")
                _count(runtime, job_id, processed=1, failed=1)
            except Exception as exc:
                log.exception("refining item %s failed", futures[future])
                errors.append(f"item {futures[future]}: {type(exc).__name__}: {exc}")
                _count(runtime, job_id, processed=1, failed=1)
    failed = get_job(runtime, job_id).failed
    status = jobs.outcome(job.total, failed)
    if status == JobStatus.failed:
        errors.append(f"every item failed ({failed} of {job.total}): the reasons are above")
    jobs.finish(runtime, RefineJob, job_id, status, errors=errors[:50])


def public(job: RefineJob) -> RefineJobPublic:
    """The job's status as clients see it."""
    return jobs.shown(RefineJobPublic, job)


# Fan-out (service.worker): several workers share one run, a piece per item; `done_item_ids` counts each item once.


def plan(runtime: Runtime, job_id: int) -> list[dict[str, Any]]:
    """The items not refined yet, one piece each; the end of the run once there are none."""
    job = get_job(runtime, job_id)
    if not jobs.resume(runtime, RefineJob, job):
        return []
    done = set(job.done_item_ids or [])
    if pieces := [{"item_id": item_id} for item_id in job.item_ids if item_id not in done]:
        return pieces
    with runtime.db.session() as session:
        ended = session.execute(
            update(RefineJob)
            .where(RefineJob.id == job_id, RefineJob.status == JobStatus.running)
            .values(status=jobs.outcome(job.total, job.failed), finished_at=utcnow())
        )
    if ended.rowcount and job.total and job.failed >= job.total:
        jobs.append_errors(
            runtime, RefineJob, job_id, [f"every item failed ({job.failed} of {job.total}): the reasons are above"]
        )
    return []


def _record(runtime: Runtime, job_id: int, item_id: int, found: int, made: int, failures: list[str]) -> bool:
    """Count one item's outcome, once whatever the number of runs (the row locked where the database can); whether
    every item is now done."""
    with runtime.db.session() as session:
        job = session.scalars(select(RefineJob).where(RefineJob.id == job_id).with_for_update()).one()
        done = list(job.done_item_ids or [])
        if item_id not in done:
            job.done_item_ids = [*done, item_id]
            job.processed += 1
            job.findings += found
            job.suggestions += made
            job.failed += int(bool(failures))
            job.errors = [*(job.errors or []), *failures][: jobs.MAX_ERRORS]
        return len(job.done_item_ids) >= len(job.item_ids)


def do_piece(runtime: Runtime, job_id: int, piece: dict[str, Any], last_try: bool) -> bool:
    """Refine one item (suggestions still pending for the unchanged item are not made again) and count it once."""
    if jobs.is_cancelled(runtime, RefineJob, job_id):
        return False
    item_id = piece["item_id"]
    try:
        job = get_job(runtime, job_id)
        found, made, failures = refine_item(runtime, item_id, job.actor, job.created_at)
    except (DomainError, LLMUnavailable) as exc:  # e.g. the item was deleted meanwhile
        return _record(runtime, job_id, item_id, 0, 0, [f"item {item_id}: {exc}"])
    return _record(runtime, job_id, item_id, found, made, failures)


def fail_piece(runtime: Runtime, job_id: int, piece: dict[str, Any], error: str) -> bool:
    """An item that failed on every try: counted as failed, with the error."""
    return _record(runtime, job_id, piece["item_id"], 0, 0, [f"item {piece['item_id']}: {error}"])


JOB = jobs.JobKind("refine", RefineJob, run_job, public, jobs.FanOut(plan, do_piece, fail_piece))
