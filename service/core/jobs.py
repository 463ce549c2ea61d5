"""Background jobs: the in-process runner, and what every job table shares (lookup, ETA, limits, cancelling).

One worker thread runs queued model jobs one at a time (they share the one local model), a second the light ones
(imports, pushes), and at start they resume the unfinished ones. The unit it hands out is a job kind and id; each
feature's job hands out small serialisable pieces, so a distributed queue (Celery, RQ, Arq) can replace this class
without touching the features. Which kinds exist is handed in by `create_app`.

Cancelling goes through the database, so it works from any process (the API, `refinery job cancel`): a queued job
is cancelled at once; a running one checks its status between pieces (`stop_if_cancelled`) and stops at the next
boundary. The piece in progress finishes and is kept, as everything committed before it; nothing else starts.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipelines.llm import CallRecord
from prompts import load_prompt
from service.core import outbox, scope
from service.core.enums import FINISHED, UNFINISHED, JobStatus
from service.core.errors import Conflict, DomainError, InvalidInput, NotFound
from service.core.runtime import Runtime
from service.core.tables import JobColumns, utcnow

log = logging.getLogger(__name__)
Job = TypeVar("Job")
Shown = TypeVar("Shown", bound=BaseModel)
MAX_ERRORS = 100  # lines kept in a job's errors


@dataclass(frozen=True)
class FanOut:
    """How a job splits into pieces that several workers share (service.worker). `plan(runtime, job_id)` advances
    the job as far as it goes without pieces and returns the pieces (JSON-able dicts) of its current stage, none
    once it has ended; `piece(runtime, job_id, piece, last_try)` does one piece, at most once in effect, and says
    whether its stage may now be complete (then the job is planned again); `fail(runtime, job_id, piece, error)`
    records a piece that failed on every try as a counted failure, and says the same."""

    plan: Callable[[Runtime, int], list[dict[str, Any]]]
    piece: Callable[[Runtime, int, dict[str, Any], bool], bool]
    fail: Callable[[Runtime, int, dict[str, Any], str], bool]


@dataclass(frozen=True)
class JobKind:
    """A kind of background job: its name, its table, the function that runs (or resumes) one to the end,
    `public`, the status a client sees (a row -> the kind's JobPublic model), and `fan_out` where its pieces can
    run on several workers at once (else one worker runs it whole)."""

    name: str
    table: type[Any]
    run: Callable[[Runtime, int], Any]
    public: Callable[[Any], Any] | None = None
    fan_out: FanOut | None = None
    light: bool = False  # uses no model (an import, a push): the inline runner runs it beside the model's jobs


class Cancelled(Exception):  # noqa: N818 - a signal, not an error
    """The job was cancelled; raised at a piece boundary so its run stops there."""


class TryLater(Exception):  # noqa: N818 - a signal, not an error
    """A piece cannot be done now (no model answered); the queue tries it again later."""


class TooManyJobs(DomainError):
    status_code = 429


def get_job(runtime: Runtime, table: type[Job], job_id: int, name: str) -> Job:
    """One job row, usable after its session has closed; NotFound names the kind of job (`name`)."""
    job = runtime.db.get(table, job_id)
    if job is None:
        raise NotFound(f"no {name} job with id {job_id}")
    return job


def eta_seconds(started_at: datetime | None, done: int, remaining: int) -> float | None:
    """Seconds left at the pace so far; None until something is done."""
    if started_at is None or not done:
        return None
    return round((utcnow() - started_at).total_seconds() / done * remaining, 1)


def job_tables() -> list[type[Any]]:
    """Every job table (the subclasses of JobColumns that are tables, through mixins such as ImportColumns)."""
    found, todo = [], list(JobColumns.__subclasses__())
    while todo:
        table = todo.pop(0)
        todo += table.__subclasses__()
        if "__tablename__" in vars(table):
            found.append(table)
    return found


def eta(job: Any) -> float | None:
    """Seconds left for a running job at its pace so far (`processed` of `total`); None when it is not running."""
    if job.status != JobStatus.running:
        return None
    return eta_seconds(job.started_at, job.processed, job.total - job.processed)


def shown(model: type[Shown], job: Any) -> Shown:
    """A job's status as clients see it: its row as `model` (a JobPublic), with the time left while it runs."""
    return model.model_validate(job).model_copy(update={"eta_s": eta(job)})


def ensure_capacity(session: Session, limit: int) -> None:
    """TooManyJobs (429) when `limit` jobs of all kinds together are already queued or running."""
    counts = {status: 0 for status in UNFINISHED}
    for table in job_tables():
        query = select(table.status, func.count()).where(table.status.in_(UNFINISHED)).group_by(table.status)
        for status, count in session.execute(query):
            counts[status] += count
    active = sum(counts.values())
    if active >= limit:
        raise TooManyJobs(
            f"{active} jobs are already queued or running ({counts[JobStatus.running]} running, "
            f"{counts[JobStatus.queued]} queued; the limit is {limit}, REFINERY_MAX_ACTIVE_JOBS): wait for one to "
            "finish, or cancel one (POST /v1/jobs/{id}/cancel?kind=..., or `refinery job cancel ID --kind ...`)"
        )


def claim(runtime: Runtime, table: type[Any], job_id: int, **values: Any) -> bool:
    """Mark a queued job (or a running one being resumed) running, with `values`; False when it was cancelled or
    finished meanwhile, and then the caller does nothing."""
    with runtime.db.session() as session:
        claimed = session.execute(
            update(table)
            .where(table.id == job_id, table.status.in_(UNFINISHED))
            .values(status=JobStatus.running, **values)
        )
        return claimed.rowcount == 1


def failed_record(runtime: Runtime, prompt_id: str) -> CallRecord:
    """The call record of a piece that failed on every try before any answer: the configured model and the prompt
    it would have used (what a failed suggestion shows as its provenance)."""
    prompt = load_prompt(prompt_id)
    return CallRecord(
        provider=runtime.settings.llm_config().provider,
        model=runtime.llm_model or "",
        prompt_id=prompt.id,
        prompt_version=prompt.version,
    )


def resume(runtime: Runtime, table: type[Any], job: Any) -> bool:
    """Claim a queued or running job for a run that keeps its first start time; False when it has ended or was
    cancelled meanwhile (then the caller does nothing)."""
    return job.status not in FINISHED and claim(runtime, table, job.id, started_at=job.started_at or utcnow())


def is_cancelled(runtime: Runtime, table: type[Any], job_id: int) -> bool:
    with runtime.db.session() as session:
        return session.scalar(select(table.status).where(table.id == job_id)) == JobStatus.cancelled


def stop_if_cancelled(runtime: Runtime, table: type[Any], job_id: int) -> None:
    """A piece boundary: raise Cancelled when the job was cancelled."""
    if is_cancelled(runtime, table, job_id):
        raise Cancelled(f"job {job_id} was cancelled")


def outcome(pieces: int, failed: int) -> JobStatus:
    """A run's status: failed when it had pieces and every one of them failed (nothing usable came of it)."""
    return JobStatus.failed if pieces and failed >= pieces else JobStatus.done


def _locked_errors(session: Session, table: type[Any], job_id: int) -> list[str]:
    """A job's errors so far, its row locked where the database can (so no concurrent note is lost)."""
    return session.scalar(select(table.errors).where(table.id == job_id).with_for_update()) or []


def append_errors(runtime: Runtime, table: type[Any], job_id: int, new: list[str]) -> None:
    """Add lines to a job's errors (the row locked where the database can, so a cancel note is not lost)."""
    if not new:
        return
    with runtime.db.session() as session:
        kept = _locked_errors(session, table, job_id)
        session.execute(update(table).where(table.id == job_id).values(errors=[*kept, *new][:MAX_ERRORS]))


def finish(runtime: Runtime, table: type[Any], job_id: int, status: JobStatus, **values: Any) -> None:
    """End a run with `status` and its final counts. A job cancelled meanwhile stays cancelled: it still gets the
    counts, and `errors` are added after its cancel note."""
    with runtime.db.session() as session:
        ended = session.execute(
            update(table)
            .where(table.id == job_id, table.status != JobStatus.cancelled)
            .values(status=status, finished_at=utcnow(), **values)
        )
        if ended.rowcount:
            outbox.queue_job_finished(session, table, job_id)
            return
        if "errors" in values:
            kept = _locked_errors(session, table, job_id)
            values["errors"] = [*kept, *(e for e in values["errors"] if e not in kept)][:MAX_ERRORS]
        if values:
            session.execute(update(table).where(table.id == job_id).values(**values))


def find_kind(runtime: Runtime, kinds: dict[str, JobKind], job_id: int, name: str | None = None) -> JobKind:
    """The kind of job `job_id` is: `name` when given, else the only kind with a job of that id (ids are per kind).
    InvalidInput for an unknown name or when several kinds have such a job; NotFound when none has."""
    if name is not None:
        if name not in kinds:
            raise InvalidInput(f"no job kind {name!r}; the kinds are {', '.join(kinds)}")
        return kinds[name]
    found = []
    for kind in kinds.values():
        job = runtime.db.get(kind.table, job_id)
        if job is not None:
            found.append((kind, job))
    if not found:
        raise NotFound(f"no job with id {job_id} of any kind ({', '.join(kinds)})")
    if len(found) > 1:
        named = ", ".join(f"{kind.name} job {job_id} ({job.status})" for kind, job in found)
        raise InvalidInput(f"there is {named}: say which kind ({', '.join(k.name for k, _ in found)})")
    return found[0][0]


def cancel(runtime: Runtime, kind: JobKind, job_id: int, actor: str | None = None) -> Any:
    """Cancel a queued job at once, or a running one at its next piece boundary (the piece in progress finishes
    and is kept); the job row. Conflict (409) for a job that already ended."""
    table = kind.table
    job = get_job(runtime, table, job_id, kind.name)
    if job.status in FINISHED:
        raise Conflict(
            f"{kind.name} job {job_id} is already {job.status}: only a queued or running job can be cancelled"
        )
    when = utcnow()
    note = f"cancelled{f' by {actor}' if actor else ''} at {when:%Y-%m-%d %H:%M:%S} UTC " + (
        "before it started"
        if job.status == JobStatus.queued
        else "while running: the piece in progress finishes and is kept, nothing more is started"
    )
    with runtime.db.session() as session:
        kept = _locked_errors(session, table, job_id)
        cancelled = session.execute(
            update(table)
            .where(table.id == job_id, table.status.in_(UNFINISHED))
            .values(status=JobStatus.cancelled, finished_at=when, errors=[*kept, note])
        )
        if cancelled.rowcount:
            outbox.queue_job_finished(session, table, job_id, actor)
    if not cancelled.rowcount:  # it ended meanwhile
        return cancel(runtime, kind, job_id, actor)
    log.info("%s job %s %s", kind.name, job_id, note)
    return get_job(runtime, table, job_id, kind.name)


def unfinished(runtime: Runtime, kinds: dict[str, JobKind]) -> list[tuple[str, int, int]]:
    """(kind, job id, project id) of every queued or running job of these kinds, in every project, oldest first
    per kind (not a cancelled one)."""
    found = []
    for name, kind in kinds.items():
        table = kind.table
        with scope.every_project(), runtime.db.session() as session:
            rows = session.execute(
                select(table.id, table.project_id).where(table.status.in_(UNFINISHED)).order_by(table.id)
            ).all()
        found += [(name, job_id, project_id) for job_id, project_id in rows]
    return found


class JobQueue(Protocol):
    """Where the API hands jobs: this process's JobRunner, or service.worker's queue for worker processes."""

    kinds: dict[str, JobKind]

    def start(self) -> None: ...
    def submit(self, kind: JobKind, job_id: int) -> None: ...
    def stop(self, timeout: float = 5) -> None: ...
    def status(self) -> dict[str, Any]: ...  # service.api.health.QueueStatus's fields


class JobRunner:
    """The inline queue (REFINERY_QUEUE=inline): threads of the API process run the jobs, one at a time per lane:
    one lane for the jobs that use the model (they share the one local model), one for the `light` jobs (imports,
    pulls, pushes), so an import does not wait behind a long model run."""

    def __init__(self, runtime: Runtime, kinds: list[JobKind]) -> None:
        self.runtime = runtime
        self.kinds = {kind.name: kind for kind in kinds}
        self._queues: dict[bool, queue.Queue[tuple[str, int, int] | None]] = {
            light: queue.Queue() for light in (False, True)
        }  # by lane (light?): kind, job id, project id
        self._threads: list[threading.Thread] = []
        self._busy = {False: False, True: False}

    def start(self) -> None:
        """Start the workers and queue every job a previous process left queued or running (not a cancelled one)."""
        for name, job_id, project_id in unfinished(self.runtime, self.kinds):
            log.info("resuming %s job %s", name, job_id)
            self._queues[self.kinds[name].light].put((name, job_id, project_id))
        for light in (False, True):
            thread = threading.Thread(target=self._work, args=(light,), daemon=True, name=f"jobs{'-light' * light}")
            thread.start()
            self._threads.append(thread)

    def submit(self, kind: JobKind, job_id: int) -> None:
        if kind.name not in self.kinds:
            raise ValueError(f"no runner for {kind.name} jobs")
        self._queues[kind.light].put((kind.name, job_id, scope.current_project()))  # in the caller's project

    def status(self) -> dict[str, Any]:
        waiting = sum(lane.qsize() for lane in self._queues.values())
        return {"kind": "inline", "workers": 2, "waiting": waiting, "running": sum(self._busy.values())}

    def stop(self, timeout: float = 5) -> None:
        for lane in self._queues.values():
            lane.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _work(self, light: bool) -> None:
        while (work := self._queues[light].get()) is not None:
            name, job_id, project_id = work
            self._busy[light] = True
            try:
                with scope.in_project(project_id):
                    self.kinds[name].run(self.runtime, job_id)
            except Exception:  # a job records its own failures; this only guards the worker
                log.exception("%s job %s crashed the worker", name, job_id)
            finally:
                self._busy[light] = False
