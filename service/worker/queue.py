"""Background jobs on a real queue: procrastinate, its jobs kept in the PostgreSQL database Refinery already uses
(no broker to run). The API only enqueues (`PostgresQueue.submit`); `refinery worker` processes do the work.

Two tasks:
  refinery.plan   a job: a kind without fan-out runs whole; a kind with one (service.core.jobs.FanOut) is planned
                  and each piece of its current stage is enqueued
  refinery.piece  one piece; when its stage may be complete, the job is planned again
Every piece is idempotent against the database, the source of truth, so a piece run twice changes nothing the
second time; a queueing lock keeps one copy of a piece waiting and a lock runs copies one after the other, so a
piece's model call is not paid twice. A worker that dies (SIGKILL, a lost machine) stops sending heartbeats: the
others put its jobs back on the queue after 4 heartbeats (REFINERY_WORKER_HEARTBEAT_S). A piece that raises is
tried again with exponential backoff (2, 4, 8, ... s) up to REFINERY_PIECE_ATTEMPTS tries, then recorded as a
counted failure with its error (FanOut.fail), never retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
from dataclasses import dataclass
from typing import Any

import procrastinate
import psycopg
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from sqlalchemy import text
from sqlalchemy.engine import make_url

from service import duplicates
from service.core import scope
from service.core.jobs import JobKind, unfinished
from service.core.runtime import Runtime
from service.core.settings import Settings
from service.ops.logs import job_context

log = logging.getLogger(__name__)
PLAN, PIECE = "refinery.plan", "refinery.piece"
SCHEMA_LOCK = 7_301_117  # pg_advisory_xact_lock key: one process installs the queue's tables


class QueueUnavailable(RuntimeError):
    """The queue cannot be used with these settings; the message says what to set."""


def conninfo(settings: Settings) -> str:
    """The libpq URL of the database the queue lives in; QueueUnavailable unless it is PostgreSQL."""
    url = settings.database_url or ""
    if not url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        raise QueueUnavailable(
            "REFINERY_QUEUE=postgres keeps the queue in PostgreSQL: set DATABASE_URL=postgresql://USER:PASSWORD@HOST/DB"
            f" (it is {make_url(url).render_as_string() if url else 'not set, so a SQLite file is used'})"
        )
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class WorkerEnv:
    """What the tasks of one process need: its runtime and the job kinds by name."""

    runtime: Runtime
    kinds: dict[str, JobKind]


def _defer(app: procrastinate.App, task: str, lock: str, **arguments: Any) -> None:
    """Enqueue unless the same work (`lock`) is already waiting; copies of it run one after the other."""
    with contextlib.suppress(AlreadyEnqueued):
        app.configure_task(task, queueing_lock=lock, lock=lock).defer(**arguments)


def defer_plan(app: procrastinate.App, kind: str, job_id: int, project: int) -> None:
    _defer(app, PLAN, f"{kind}:{job_id}:plan", kind=kind, job_id=job_id, project=project)


def defer_piece(app: procrastinate.App, kind: str, job_id: int, project: int, piece: dict[str, Any]) -> None:
    key = hashlib.sha1(json.dumps(piece, sort_keys=True).encode()).hexdigest()[:16]
    _defer(app, PIECE, f"{kind}:{job_id}:{key}", kind=kind, job_id=job_id, project=project, piece=piece)


def build_app(settings: Settings) -> procrastinate.App:
    """The procrastinate app with Refinery's two tasks; the tasks find their runtime in the worker's context."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings)))
    tries = settings.piece_attempts

    @app.task(name=PLAN, pass_context=True, retry=procrastinate.RetryStrategy(max_attempts=2, wait=2))
    def plan(context: procrastinate.JobContext, kind: str, job_id: int, project: int) -> None:
        env: WorkerEnv = context.additional_context["refinery"]
        found = env.kinds[kind]
        with scope.in_project(project), job_context(kind, job_id):
            if found.fan_out is None:
                found.run(env.runtime, job_id)
                return
            pieces = found.fan_out.plan(env.runtime, job_id)
            log.info("%s job %s: %d pieces queued", kind, job_id, len(pieces))
            for piece in pieces:
                defer_piece(context.app, kind, job_id, project, piece)

    retry = procrastinate.RetryStrategy(max_attempts=tries - 1, exponential_wait=2)

    @app.task(name=PIECE, pass_context=True, retry=retry)
    def piece(context: procrastinate.JobContext, kind: str, job_id: int, project: int, piece: dict) -> None:
        env: WorkerEnv = context.additional_context["refinery"]
        fan_out = env.kinds[kind].fan_out
        assert fan_out is not None
        last_try = context.job.attempts >= tries - 1
        with scope.in_project(project), job_context(kind, job_id):
            try:
                complete = fan_out.piece(env.runtime, job_id, piece, last_try)
            except Exception as exc:
                if not last_try:
                    log.warning("%s job %s: a piece failed (try %d of %d): %s", kind, job_id,
                                context.job.attempts + 1, tries, exc)  # fmt: skip
                    raise  # tried again later
                log.exception("%s job %s: a piece failed on all %d tries", kind, job_id, tries)
                complete = fan_out.fail(env.runtime, job_id, piece, f"failed on all {tries} tries: {exc}")
        if complete:
            defer_plan(context.app, kind, job_id, project)

    return app


def install_schema(runtime: Runtime, app: procrastinate.App) -> None:
    """Create the queue's tables once (procrastinate's schema), one process at a time."""
    with runtime.db.engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        if connection.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is None:
            connection.connection.driver_connection.execute(app.schema_manager.get_schema())  # no parameters: % is %


ALIVE_WORKERS = text(
    "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"
)
TASKS_BY_STATUS = text(
    "SELECT status::text, count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') GROUP BY status"
)


class PostgresQueue:
    """The API's side of the queue: it only enqueues. Same face as service.core.jobs.JobRunner."""

    def __init__(self, runtime: Runtime, kinds: list[JobKind]) -> None:
        self.runtime = runtime
        self.kinds = {kind.name: kind for kind in kinds}
        self.app = build_app(runtime.settings)

    def start(self) -> None:
        install_schema(self.runtime, self.app)
        self.app.open()

    def submit(self, kind: JobKind, job_id: int) -> None:
        if kind.name not in self.kinds:
            raise ValueError(f"no worker runs {kind.name} jobs")
        defer_plan(self.app, kind.name, job_id, scope.current_project())

    def status(self) -> dict[str, Any]:
        """Workers that sent a heartbeat lately, and the queue's tasks waiting and running."""
        with self.runtime.db.engine.connect() as connection:
            workers = connection.scalar(ALIVE_WORKERS, {"s": 4 * self.runtime.settings.worker_heartbeat_s})
            tasks = dict(connection.execute(TASKS_BY_STATUS).all())
        return {
            "kind": "postgres",
            "workers": workers,
            "waiting": tasks.get("todo", 0),
            "running": tasks.get("doing", 0),
        }

    def stop(self, timeout: float = 5) -> None:
        self.app.close()


def requeue_unfinished(runtime: Runtime, app: procrastinate.App, kinds: dict[str, JobKind]) -> int:
    """Plan every queued or running job again (a job of an inline run, a plan lost with its worker): planning is
    idempotent, and a plan already waiting is not doubled. How many."""
    found = unfinished(runtime, kinds)
    for name, job_id, project in found:
        defer_plan(app, name, job_id, project)
    return len(found)


async def _retry_stalled(app: procrastinate.App, after_s: float) -> None:
    """Put the jobs of workers that stopped sending heartbeats back on the queue, every few seconds."""
    while True:
        await asyncio.sleep(after_s / 4)
        try:
            for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=after_s):
                log.warning("job %s (%s) was running on a worker that stopped: queued again", job.id, job.task_name)
                await app.job_manager.retry_job(job)
        except Exception as exc:  # another worker retried it first, or the database is away: next round
            log.debug("stalled-job check: %s", exc)


def _warm_up(runtime: Runtime) -> None:
    """Build the LLM client, load the embedding model and open the vector store now, so the first piece does not
    wait for them."""
    try:
        runtime.llm()
        duplicates.detector(runtime).embedder.encode(["warm up"])
    except Exception as exc:  # the pieces that need them fail with the reason, and are tried again
        log.warning("not everything a piece needs is available yet: %s", exc)


async def work(runtime: Runtime, kinds: list[JobKind], concurrency: int = 1, name: str | None = None) -> None:
    """Run a worker until SIGINT or SIGTERM (the piece in progress finishes). While the database is unreachable it
    waits and reconnects: its pieces stay on the queue and are retried."""
    settings = runtime.settings
    env = WorkerEnv(runtime, {kind.name: kind for kind in kinds})
    heartbeat = settings.worker_heartbeat_s
    options: dict[str, Any] = {
        "concurrency": concurrency,
        "name": name,
        "additional_context": {"refinery": env},
        "update_heartbeat_interval": heartbeat,
        "stalled_worker_timeout": 4 * heartbeat,
        "fetch_job_polling_interval": heartbeat,
        "delete_jobs": "successful",
        "install_signal_handlers": False,  # ours: a stop by signal, unlike a lost database, ends the loop below
    }
    app = build_app(settings)
    install_schema(runtime, app)
    await asyncio.to_thread(_warm_up, runtime)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    wait = 1.0
    while not stopping.is_set():
        try:
            async with app.open_async():
                await asyncio.to_thread(requeue_unfinished, runtime, app, env.kinds)
                log.info("worker %s ready (concurrency %d)", name or "", concurrency)
                wait = 1.0
                worker = asyncio.create_task(app.run_worker_async(**options))
                sweeper = asyncio.create_task(_retry_stalled(app, 4 * heartbeat))
                stop = asyncio.create_task(stopping.wait())
                try:
                    await asyncio.wait([worker, stop], return_when=asyncio.FIRST_COMPLETED)
                    if not worker.done():
                        worker.cancel()  # a graceful stop: the jobs in progress finish
                    await asyncio.gather(worker, return_exceptions=stopping.is_set())
                finally:
                    sweeper.cancel()
                    stop.cancel()
            if not stopping.is_set():
                raise ConnectorException("the worker stopped")  # e.g. its heartbeat could not be written
        except (ConnectorException, psycopg.OperationalError, OSError) as exc:
            if stopping.is_set():
                break
            log.warning("the queue's database is unreachable (%s): trying again in %.0f s", exc, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 30)
