"""`refinery worker` runs queued jobs; `refinery job list` and `refinery job cancel ID` show and stop background
jobs of every kind (ingest, prioritize, refine, conversation)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from service.core.cli import console, errors, fail, open_runtime, refusals

job_app = typer.Typer(help="Background jobs of every kind: list them, cancel one.", no_args_is_help=True)
KIND_HELP = "ingest, prioritize, refine or conversation; needed only when jobs of several kinds have this id."


def _kinds() -> dict:
    from service.worker import JOB_KINDS

    return {kind.name: kind for kind in JOB_KINDS}


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Pieces this process runs at once.")] = 1,
    name: Annotated[str | None, typer.Option(help="The worker's name in logs (default: host and process id).")] = None,
    threads: Annotated[
        int, typer.Option(min=1, help="CPU threads for embeddings; workers share the cores, so 1 per worker.")
    ] = 1,
) -> None:
    """Run queued jobs (REFINERY_QUEUE=postgres) until stopped with Ctrl-C or SIGTERM; start as many as you like, on
    as many machines, with the API's settings. Each job's pieces are shared among them."""
    import asyncio
    import os
    import socket

    from sqlalchemy.exc import OperationalError

    from service.core.settings import get_settings
    from service.ops.logs import configure_logging
    from service.worker import JOB_KINDS
    from service.worker.queue import QueueUnavailable, conninfo, work

    settings = get_settings()
    if settings.queue != "postgres":
        raise fail(
            "REFINERY_QUEUE is inline: `refinery serve` runs the jobs itself. For worker processes set "
            "REFINERY_QUEUE=postgres and DATABASE_URL=postgresql://USER:PASSWORD@HOST/DB, for them and for the API"
        )
    try:
        conninfo(settings)
        runtime = open_runtime()
    except QueueUnavailable as exc:
        raise fail(str(exc)) from exc
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise fail(
            f"cannot reach the database in DATABASE_URL: {reason}. Check its host, port, user and password"
        ) from exc
    if settings.duplicate_check and not settings.chroma_host:
        raise fail(
            "CHROMA_HOST is not set: workers and the API share the duplicate index through a Chroma server (the "
            "embedded store serves one process). Run `chroma run --path DIR --port 8001` and set CHROMA_HOST and "
            "CHROMA_PORT for the API and every worker"
        )
    configure_logging(settings.log_format, settings.log_level)
    import torch

    torch.set_num_threads(threads)  # several processes on the cores: idle threads spinning would slow the others
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    errors.print(f"worker {name}: running queued jobs (Ctrl-C stops it after the pieces in progress)")
    asyncio.run(work(runtime, JOB_KINDS, concurrency, name))


@job_app.command("list")
def list_jobs(
    all_: Annotated[bool, typer.Option("--all", help="Also finished jobs (the newest 20 of each kind).")] = False,
) -> None:
    """Queued and running jobs of every kind, oldest first."""
    from sqlalchemy import select

    from service.core.enums import UNFINISHED

    runtime = open_runtime()
    table = Table("kind", "id", "status", "done", "failed", "created")
    rows = []
    with runtime.db.session() as session:
        for name, kind in _kinds().items():
            query = select(kind.table).order_by(kind.table.id.desc())
            query = query.limit(20) if all_ else query.where(kind.table.status.in_(UNFINISHED))
            rows += [(job.created_at, name, job) for job in session.scalars(query)]
    for created, name, job in sorted(rows, key=lambda row: row[0]):
        done = f"{job.processed}/{job.total}"
        table.add_row(name, str(job.id), job.status, done, str(job.failed), f"{created:%Y-%m-%d %H:%M}")
    console.print(table if rows else "No jobs are queued or running.")


@job_app.command("cancel")
def cancel(
    job_id: Annotated[int, typer.Argument(help="The job's id (as its status URL and `refinery job list` show).")],
    kind: Annotated[str | None, typer.Option(help=KIND_HELP)] = None,
) -> None:
    """Cancel a job: a queued one at once, a running one at its next piece (what it made so far is kept); a running
    server's job stops there too, as the status is in the database."""
    from service.core import jobs

    runtime = open_runtime()
    with refusals():
        found = jobs.find_kind(runtime, _kinds(), job_id, kind)
        job = jobs.cancel(runtime, found, job_id, "cli")
    console.print(f"{found.name} job {job.id}: {job.status} ({job.processed} of {job.total} done). {job.errors[-1]}")
