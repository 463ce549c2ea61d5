"""The tracker's jobs: a push and a pull.

A push decides first, in one transaction, which items it would create or update, and sends those one at a time
with its counts (a few hundred ms each; an item edited after that decision waits for the next push), then the links
of those whose dependencies changed (an item is counted failed when its links fail). Each item's key is committed as
soon as the tracker answers, so a job a crash interrupted runs again from the start and finds the items already sent
unchanged; the one item in flight when the process died is looked for in the tracker before it is created again
(`service.made_earlier`). Refused credentials stop the job (every other item would fail alike); any other failure is
that item's.

A pull reads the tracker's issues and imports them as an import job does (service.backlog.jobs), in its own table;
a tracker that cannot be read fails it, saying why."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from service.backlog import jobs as import_jobs
from service.backlog.importers import ParsedImport
from service.core import jobs
from service.core.enums import FINISHED, JobStatus
from service.core.runtime import Runtime
from service.core.tables import PullJob, PushJob, TrackerConnection, utcnow
from service.trackers import pulls, service
from service.trackers.http import Refused, TrackerError
from service.trackers.schemas import PullJobPublic, PushJobPublic
from service.trackers.service import PLANNED, Outcome

log = logging.getLogger(__name__)


def create_job(runtime: Runtime, item_ids: list[int] | None, actor: str | None, order: bool = False) -> PushJob:
    """Check the request now (no tracker, unknown ids, too many, nothing to send are 4xx) and queue the job; `order`:
    then put the ranked issues in the backlog's order there."""
    with runtime.db.session() as session:
        row = service.connection(session)
        items = service.items_to_push(session, row, item_ids)
        jobs.ensure_capacity(session, runtime.settings.max_active_jobs)
        job = PushJob(
            item_ids=[i.id for i in items], actor=actor, total=len(items), tracker=service.describe(row),
            send_order=order,
        )  # fmt: skip
        session.add(job)
        session.flush()
        return job


def get_job(runtime: Runtime, job_id: int) -> PushJob:
    return jobs.get_job(runtime, PushJob, job_id, "push")


def run_job(runtime: Runtime, job_id: int) -> None:
    job = get_job(runtime, job_id)
    counts = {outcome.value: 0 for outcome in PLANNED} | {"failed": 0, "comments_sent": 0}
    if job.status in FINISHED or not jobs.claim(runtime, PushJob, job_id, started_at=utcnow(), processed=0, **counts):
        return
    with runtime.db.session() as session:
        row = service.get_connection(session)
    if row is None:
        jobs.finish(runtime, PushJob, job_id, JobStatus.failed, errors=[service.NOT_CONNECTED])
        return
    tracker = service.client(row)
    outcomes: dict[int, Outcome] = {}
    try:
        ahead, written = service.plan_all(runtime, row, job.item_ids), time.monotonic()
        for done, item_id in enumerate(job.item_ids, 1):
            planned = ahead.get(item_id)
            if planned is not None and planned.outcome in service.NOT_SENT:
                pushed = service.as_pushed(planned)  # nothing to send: no call, no transaction of its own
            else:
                jobs.stop_if_cancelled(runtime, PushJob, job_id)
                pushed = service.push_item(runtime, tracker, row, item_id, job.actor)
            outcomes[item_id] = pushed.outcome
            counts[pushed.outcome.value] += 1
            jobs.append_errors(runtime, PushJob, job_id, pushed.notes)
            if pushed.outcome not in service.NOT_SENT or done == job.total or time.monotonic() - written > 0.5:
                runtime.db.update(PushJob, job_id, processed=done, **counts)
                written = time.monotonic()
        for item_id in service.with_links(runtime, job.item_ids):  # once all have keys: a link may name a later one
            jobs.stop_if_cancelled(runtime, PushJob, job_id)
            said = service.link_item(runtime, tracker, row, item_id)
            if said and outcomes[item_id] != Outcome.failed:
                counts[outcomes[item_id].value] -= 1
                counts[Outcome.failed.value] += 1
                outcomes[item_id] = Outcome.failed
            if said:
                jobs.append_errors(runtime, PushJob, job_id, said)
                runtime.db.update(PushJob, job_id, **counts)
        for item_id in service.with_comments(runtime, row, job.item_ids):  # once every item has its key
            jobs.stop_if_cancelled(runtime, PushJob, job_id)
            posted, said = service.send_comments(runtime, tracker, row, item_id)
            counts["comments_sent"] += posted
            jobs.append_errors(runtime, PushJob, job_id, said)
            runtime.db.update(PushJob, job_id, **counts)
        if job.send_order:  # once every item has its key
            jobs.append_errors(runtime, PushJob, job_id, service.send_order(runtime, tracker, row))
    except jobs.Cancelled:
        log.info("push job %s stopped: it was cancelled", job_id)
        return
    except Refused as exc:
        jobs.finish(runtime, PushJob, job_id, JobStatus.failed, errors=[f"stopped: {exc}"])
        return
    except Exception as exc:
        log.exception("push job %s failed", job_id)
        jobs.finish(runtime, PushJob, job_id, JobStatus.failed, errors=[f"{type(exc).__name__}: {exc}"])
        return
    finally:
        tracker.close()
    sent = job.total - counts[Outcome.skipped]
    jobs.finish(runtime, PushJob, job_id, jobs.outcome(sent, counts["failed"]), **counts)


def public(job: PushJob) -> PushJobPublic:
    """The job's status as clients see it."""
    return jobs.shown(PushJobPublic, job)


JOB = jobs.JobKind("push", PushJob, run_job, public, light=True)


def create_pull(runtime: Runtime, actor: str | None, dry_run: bool = False, full: bool = False) -> PullJob:
    """Queue a pull of the tracker's issues changed since the last pull, or of every issue (`full`, and as
    `pulls.changes_since` says); 404 with none connected, 429 with too many jobs; a `dry_run` only says what it would
    do."""
    with runtime.db.session() as session:
        row = service.connection(session)
        jobs.ensure_capacity(session, runtime.settings.max_active_jobs)
        return add_pull(session, row, actor, dry_run, full)


def add_pull(
    session: Session, row: TrackerConnection, actor: str | None, dry_run: bool = False, full: bool = False
) -> PullJob:
    """A new queued pull in `session` (nothing checked: see `create_pull`)."""
    job = import_jobs.add_job(session, PullJob, service.describe(row), None, actor, dry_run)
    job.since = pulls.changes_since(session, job.source, full)
    return job


def run_pull(runtime: Runtime, job_id: int) -> None:
    since = get_pull(runtime, job_id).since

    def read(heard: Callable[[int], None]) -> ParsedImport:
        try:
            return pulls.read(runtime, since, heard)
        except TrackerError as exc:
            raise import_jobs.ReadFailed(str(exc)) from exc

    import_jobs.run_import(runtime, PullJob, job_id, read)


def get_pull(runtime: Runtime, job_id: int) -> PullJob:
    return jobs.get_job(runtime, PullJob, job_id, "pull")


def public_pull(job: PullJob) -> PullJobPublic:
    """A pull's status as clients see it."""
    return import_jobs.public(job, PullJobPublic)


PULL_JOB = jobs.JobKind("pull", PullJob, run_pull, public_pull, light=True)
