"""Background jobs: the in-process runner, and what every job table shares (lookup, ETA).

One worker thread runs queued jobs one at a time (they share the one local model) and at start resumes the
unfinished ones. The unit it hands out is a job kind and id; each feature's job hands out small serialisable pieces,
so a distributed queue (Celery, RQ, Arq) can replace this class without touching the features. Which kinds exist
is handed in by `create_app`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select

from service.core.enums import UNFINISHED
from service.core.errors import NotFound
from service.core.runtime import Runtime
from service.core.tables import utcnow

log = logging.getLogger(__name__)
Job = TypeVar("Job")


@dataclass(frozen=True)
class JobKind:
    """A kind of background job: its name, its table and the function that runs (or resumes) one to the end."""

    name: str
    table: type[Any]
    run: Callable[[Runtime, int], Any]


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


class JobRunner:
    def __init__(self, runtime: Runtime, kinds: list[JobKind]) -> None:
        self.runtime = runtime
        self.kinds = {kind.name: kind for kind in kinds}
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker and queue every job a previous process left queued or running."""
        for name, kind in self.kinds.items():
            with self.runtime.db.session() as session:
                table = kind.table
                unfinished = session.scalars(
                    select(table.id).where(table.status.in_(UNFINISHED)).order_by(table.id)
                ).all()
            for job_id in unfinished:
                log.info("resuming %s job %s", name, job_id)
                self._queue.put((name, job_id))
        self._thread = threading.Thread(target=self._work, daemon=True, name="jobs")
        self._thread.start()

    def submit(self, kind: JobKind, job_id: int) -> None:
        if kind.name not in self.kinds:
            raise ValueError(f"no runner for {kind.name} jobs")
        self._queue.put((kind.name, job_id))

    def stop(self, timeout: float = 5) -> None:
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout)

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            name, job_id = work
            try:
                self.kinds[name].run(self.runtime, job_id)
            except Exception:  # a job records its own failures; this only guards the worker
                log.exception("%s job %s crashed the worker", name, job_id)
