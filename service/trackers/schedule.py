"""Pulls on a schedule: a project whose tracker connection sets `pull_every_minutes` has its tracker's issues pulled
that often, as a pull job like `POST /v1/tracker/pull` starts, for a server the tracker's webhooks cannot reach (a
laptop). A thread of each API process looks every `interval_s`; whether a pull is due and the new job are decided in
one transaction with the connection's row locked (PostgreSQL; SQLite has one writer), so several API processes start
one pull, not one each."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select

from service.core import scope
from service.core.enums import UNFINISHED
from service.core.jobs import JobQueue, TooManyJobs, ensure_capacity
from service.core.periodic import Periodic
from service.core.runtime import Runtime
from service.core.tables import PullJob, TrackerConnection, utcnow
from service.trackers.jobs import PULL_JOB, add_pull

log = logging.getLogger(__name__)
ACTOR = "schedule"  # who a scheduled pull says started it


def start_if_due(runtime: Runtime, project_id: int) -> PullJob | None:
    """Queue a pull of the project's tracker when its schedule says one is due: none is queued or running, and the
    last began `pull_every_minutes` ago or more. None when not due (or too many jobs are active: the next look tries
    again)."""
    with scope.in_project(project_id), runtime.db.session() as session:
        row = session.scalars(select(TrackerConnection).with_for_update()).first()
        if row is None or not row.pull_every_minutes:
            return None
        pulls = select(PullJob).where(PullJob.dry_run.is_(False)).order_by(PullJob.id.desc())
        last = session.scalars(pulls.limit(1)).first()
        every = timedelta(minutes=row.pull_every_minutes)
        if last is not None and (last.status in UNFINISHED or last.created_at > utcnow() - every):
            return None
        try:
            ensure_capacity(session, runtime.settings.max_active_jobs)
        except TooManyJobs:
            return None
        return add_pull(session, row, ACTOR)


def start_due(runtime: Runtime, runner: JobQueue) -> list[int]:
    """Start every project's due pull; the ids of the jobs started."""
    with scope.every_project(), runtime.db.session() as session:
        scheduled = select(TrackerConnection.project_id).where(TrackerConnection.pull_every_minutes > 0)
        projects = list(session.scalars(scheduled))
    started = []
    for project_id in projects:
        job = start_if_due(runtime, project_id)
        if job is not None:
            with scope.in_project(project_id):
                runner.submit(PULL_JOB, job.id)
            started.append(job.id)
    return started


def schedule(runtime: Runtime, runner: JobQueue, interval_s: float = 30.0) -> Periodic:
    """A thread of the API process that starts the pulls that are due every `interval_s` seconds."""

    def start(_stop: threading.Event) -> None:
        for job_id in start_due(runtime, runner):
            log.info("scheduled pull job %s started", job_id)

    return Periodic("refinery-schedule", interval_s, start)
