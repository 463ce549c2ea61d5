"""Imports as background jobs with progress: a tracker's export file here (`/v1/backlog/import/jobs`), and the same
run for a pull of the connected tracker's issues (service.trackers.jobs, its own table and reader).

A job goes through its phases (`ImportPhase`): reading (a pull: the tracker's issues, counted as read), importing
(every row in one transaction, which also records what it created and updated, so a resumed job never loses them),
indexing (the new and changed text embedded for the duplicate check, a batch at a time: `processed` of `total`).
Cancelling stops it before its rows are written; once they are, it runs to the end, so nothing is left unsearchable.
A dry run goes through the same phases, rolls its rows back and embeds nothing: its counts and updates say what the
import would do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.orm import Session

from service.backlog import service
from service.backlog.importers import ParsedImport
from service.backlog.schemas import BacklogItemCreate, ImportJobPublic, ImportUpdated
from service.core import jobs
from service.core.enums import FINISHED, ImportPhase, JobStatus
from service.core.errors import DomainError
from service.core.runtime import Runtime
from service.core.tables import ImportJob

log = logging.getLogger(__name__)
Shown = TypeVar("Shown", bound=ImportJobPublic)
Read = Callable[[Callable[[int], None]], ParsedImport]  # a pull's reader: hears how many issues were read so far


class ReadFailed(Exception):
    """The source could not be read (the tracker refused or could not be reached): the job fails saying why."""


def create_job(
    runtime: Runtime, table: type[Any], source: str, parsed: ParsedImport | None, actor: str | None,
    dry_run: bool = False,
) -> Any:  # fmt: skip
    """Check the import now (too many rows 413, an index that cannot be opened 503, too many jobs 429) and queue it:
    a parsed file starts at importing, a pull (`parsed` None) at reading. A `dry_run` says what the import would do
    and writes nothing."""
    if parsed is not None:
        service.check_import(runtime, len(parsed.items))
    with runtime.db.session() as session:
        jobs.ensure_capacity(session, runtime.settings.max_active_jobs)
        return add_job(session, table, source, parsed, actor, dry_run)


def add_job(
    session: Session, table: type[Any], source: str, parsed: ParsedImport | None, actor: str | None,
    dry_run: bool = False,
) -> Any:  # fmt: skip
    """A new queued import job in `session` (nothing checked: see `create_job`)."""
    job = table(source=source[:300], actor=actor, phase=ImportPhase.reading, records=None, problems=[],
                dry_run=dry_run)  # fmt: skip
    if parsed is not None:
        job.phase, job.total, job.problems = ImportPhase.importing, len(parsed.items), parsed.problems
        job.records = [item.model_dump(mode="json") for item in parsed.items]
    session.add(job)
    session.flush()
    return job


def run_import(runtime: Runtime, table: type[Any], job_id: int, read: Read | None = None) -> None:
    """Run (or resume) an import job from its phase to the end."""
    job = jobs.get_job(runtime, table, job_id, "import")
    if job.status in FINISHED or not jobs.resume(runtime, table, job):
        return
    try:
        if job.phase == ImportPhase.reading and read is not None:

            def heard(issues: int) -> None:  # between pages: counted, and stopped if cancelled
                jobs.stop_if_cancelled(runtime, table, job_id)
                runtime.db.update(table, job_id, processed=issues)

            parsed = read(heard)
            service.check_import(runtime, len(parsed.items))
            records = [item.model_dump(mode="json") for item in parsed.items]
            runtime.db.update(table, job_id, phase=ImportPhase.importing, records=records, problems=parsed.problems,
                              total=len(records), processed=0)  # fmt: skip
        jobs.stop_if_cancelled(runtime, table, job_id)
        job = jobs.get_job(runtime, table, job_id, "import")
        if job.phase == ImportPhase.importing:
            _import_rows(runtime, table, job)
            job = jobs.get_job(runtime, table, job_id, "import")
        updates = [ImportUpdated.model_validate(u) for u in job.updates]
        todo = [] if job.dry_run else [*job.created_ids, *service.reindexed(updates)]
        done = job.total - len(todo)
        service.index_items(runtime, todo, lambda n: runtime.db.update(table, job_id, processed=done + n))
    except jobs.Cancelled:
        log.info("import job %s stopped: it was cancelled", job_id)
        return
    except (ReadFailed, DomainError) as exc:
        jobs.finish(runtime, table, job_id, JobStatus.failed, errors=[str(exc)], records=None)
        return
    except Exception as exc:
        log.exception("import job %s failed", job_id)
        jobs.finish(runtime, table, job_id, JobStatus.failed, errors=[f"{type(exc).__name__}: {exc}"], records=None)
        return
    jobs.finish(runtime, table, job_id, JobStatus.done, processed=job.total, records=None)


def _import_rows(runtime: Runtime, table: type[Any], job: Any) -> None:
    """Write every row, and what came of them, in one transaction: a crash leaves both or neither. A dry run's rows
    are rolled back, and only what they would have made is kept (no ids: nothing was added)."""
    items = [BacklogItemCreate.model_validate(record) for record in job.records or []]
    if job.dry_run:
        with runtime.db.sessions() as session:  # no commit: rolled back when it closes
            values = _made(session, items, dry_run=True)
            session.rollback()
        runtime.db.update(table, job.id, **values)
        return
    with runtime.db.session() as session:
        session.execute(update(table).where(table.id == job.id).values(**_made(session, items, dry_run=False)))


def _made(session: Session, items: list[BacklogItemCreate], dry_run: bool) -> dict[str, Any]:
    """Import `items` in `session`; the job's columns that say what came of it (what is left to embed)."""
    created, updated, skipped = service.import_items(session, items, None)
    todo = 0 if dry_run else len(created) + len(service.reindexed(updated))
    return {
        "phase": ImportPhase.indexing, "created": len(created), "updated": len(updated), "unchanged": len(skipped),
        "created_ids": [] if dry_run else [item.id for item in created],
        "updates": [u.model_dump(mode="json") for u in updated], "processed": len(items) - todo,
    }  # fmt: skip


def public(job: Any, model: type[Shown] = ImportJobPublic) -> Shown:
    """The job's status as clients see it (as `model`, an ImportJobPublic): the time left only while it embeds
    (reading has no known end)."""
    status = jobs.shown(model, job)
    return status if job.phase == ImportPhase.indexing else status.model_copy(update={"eta_s": None})


def get_job(runtime: Runtime, job_id: int) -> ImportJob:
    return jobs.get_job(runtime, ImportJob, job_id, "import")


def run_job(runtime: Runtime, job_id: int) -> None:
    run_import(runtime, ImportJob, job_id)


JOB = jobs.JobKind("import", ImportJob, run_job, public, light=True)
