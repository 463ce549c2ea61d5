"""Prioritization as a background job: one LLM call per item takes 30-45 s locally, so a request for many items
returns at once with a job whose status counts the items estimated so far. Each estimate is a piece: a cancelled
job starts no more of them and makes no suggestion (the ranking needs every estimate)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.llm import CallRecord, LLMUnavailable, StructuredResult
from pipelines.prioritization import PROMPT_ID, Framework, PriorityInputs
from service.backlog.service import select_items
from service.core import jobs
from service.core.enums import FINISHED, JobStatus, SuggestionKind
from service.core.errors import DomainError
from service.core.runtime import Runtime
from service.core.tables import BacklogItem, PrioritizeJob, Suggestion, utcnow
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
    _end(runtime, job_id, ranked)


def _end(runtime: Runtime, job_id: int, ranked: list[dict[str, Any]]) -> None:
    """Finish with the ranking; the items without one had a failed estimate (each a failed suggestion)."""
    job = get_job(runtime, job_id)
    failed = job.total - len(ranked)
    errors = [f"{failed} estimate(s) failed validation: see the failed priority suggestions"] if failed else []
    status = jobs.outcome(job.total, failed)
    if status == JobStatus.failed:
        errors.append("every estimate failed, so nothing was ranked: the reasons are on the failed suggestions")
    jobs.finish(runtime, PrioritizeJob, job_id, status, ranked=ranked, failed=failed, errors=errors)


def public(job: PrioritizeJob) -> PrioritizeJobPublic:
    """The job's status as clients see it."""
    return jobs.shown(PrioritizeJobPublic, job)


# Fan-out (service.worker): several workers share the estimates, a piece per item, each kept in `estimates` once;
# the plan that finds every item estimated ranks them and makes the suggestions (plans of a job run one at a time).


def _stored(result: StructuredResult[PriorityInputs]) -> dict[str, Any]:
    value = result.value.model_dump(mode="json") if result.value is not None else None
    return {"value": value, "error": result.error, "raw": result.raw, "warnings": result.warnings,
            "record": result.record.model_dump(mode="json")}  # fmt: skip


def _result(data: dict[str, Any]) -> StructuredResult[PriorityInputs]:
    value = PriorityInputs.model_validate(data["value"]) if data["value"] is not None else None
    record = CallRecord.model_validate(data["record"])
    return StructuredResult(value, data["error"], data["raw"], record, data["warnings"])


def _keep(runtime: Runtime, job_id: int, item_id: int, result: StructuredResult[PriorityInputs]) -> bool:
    """Keep one item's estimate, once (the row locked where the database can); whether every item has one."""
    with runtime.db.session() as session:
        job = session.scalars(select(PrioritizeJob).where(PrioritizeJob.id == job_id).with_for_update()).one()
        kept = dict(job.estimates or {})
        if str(item_id) not in kept:
            job.estimates = {**kept, str(item_id): _stored(result)}
            job.processed += 1
        return len(job.estimates) >= len(job.item_ids)


def plan(runtime: Runtime, job_id: int) -> list[dict[str, Any]]:
    """The items without an estimate, one piece each; once there are none, the ranking and its suggestions."""
    job = get_job(runtime, job_id)
    if not jobs.resume(runtime, PrioritizeJob, job):
        return []
    kept = job.estimates or {}
    if pieces := [{"item_id": item_id} for item_id in job.item_ids if str(item_id) not in kept]:
        return pieces
    try:
        with runtime.db.session() as session:
            items = select_items(session, job.item_ids, service.MAX_ITEMS, "prioritize")
            strategy = service.current_strategy(session)
            ranked = _proposed(session, job)
        if ranked is None:
            finished = {int(item_id): _result(data) for item_id, data in kept.items()}
            ranked = service.propose_ranking(runtime, job.framework, items, strategy, finished, job.actor, job_id)
    except DomainError as exc:  # e.g. an item was deleted meanwhile
        jobs.finish(runtime, PrioritizeJob, job_id, JobStatus.failed, errors=[str(exc)])
        return []
    _end(runtime, job_id, ranked)
    return []


def _proposed(session: Session, job: PrioritizeJob) -> list[dict[str, Any]] | None:
    """The ranking a plan of this job already proposed before it died (its suggestions stand), else None."""
    query = select(Suggestion).where(
        Suggestion.kind == SuggestionKind.priority, Suggestion.created_at >= job.started_at
    )
    made = [s for s in session.scalars(query) if s.input.get("job_id") == job.id]
    if not made:
        return None
    ranked = [{**s.payload, "suggestion_id": s.id} for s in made if s.payload and "proposed_rank" in s.payload]
    return sorted(ranked, key=lambda entry: entry["proposed_rank"])


def do_piece(runtime: Runtime, job_id: int, piece: dict[str, Any], last_try: bool) -> bool:
    """Estimate one item and keep it; jobs.TryLater while no model answers (unless this is the last try)."""
    if jobs.is_cancelled(runtime, PrioritizeJob, job_id):
        return False
    job = get_job(runtime, job_id)
    with runtime.db.session() as session:
        items = [i for i in (session.get(BacklogItem, item_id) for item_id in job.item_ids) if i is not None]
        strategy = service.current_strategy(session)
        session.expunge_all()
    item = next((i for i in items if i.id == piece["item_id"]), None)
    if item is None:
        return fail_piece(runtime, job_id, piece, f"backlog item {piece['item_id']} no longer exists")
    team = service.team_priorities(runtime, [i.id for i in items])
    result = service.estimate_item(runtime.llm(), item, items, strategy, team)
    if result.unreachable and not last_try:
        raise jobs.TryLater(f"item {item.id}: {result.error}")
    return _keep(runtime, job_id, item.id, result)


def fail_piece(runtime: Runtime, job_id: int, piece: dict[str, Any], error: str) -> bool:
    """An estimate that failed on every try: kept as a failed estimate with the error (a failed suggestion)."""
    record = jobs.failed_record(runtime, PROMPT_ID)
    return _keep(runtime, job_id, piece["item_id"], StructuredResult(None, error, None, record))


JOB = jobs.JobKind("prioritize", PrioritizeJob, run_job, public, jobs.FanOut(plan, do_piece, fail_piece))
