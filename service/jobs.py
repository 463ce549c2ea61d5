"""The in-process job runner: one worker thread runs queued ingest and prioritization jobs, one at a time (they
share the one local model), and at start resumes the unfinished ones.

The unit it hands out is a job id and the job's stages hand out small serialisable batches, so a distributed
queue (Celery, RQ, Arq) can replace this class without touching `service.ingest`.
"""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy import select

from service import ingest, prioritize_jobs
from service.runtime import Runtime
from service.tables import IngestJob, PrioritizeJob

log = logging.getLogger(__name__)
RUNS = {"ingest": ingest.run_job, "prioritize": prioritize_jobs.run_job}
KINDS = {"ingest": IngestJob, "prioritize": PrioritizeJob}


class JobRunner:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker and queue every job a previous process left queued or running."""
        for kind, table in KINDS.items():
            with self.runtime.db.session() as session:
                unfinished = session.scalars(
                    select(table.id).where(table.status.in_(("queued", "running"))).order_by(table.id)
                ).all()
            for job_id in unfinished:
                log.info("resuming %s job %s", kind, job_id)
                self._queue.put((kind, job_id))
        self._thread = threading.Thread(target=self._work, daemon=True, name="jobs")
        self._thread.start()

    def submit(self, job_id: int, kind: str = "ingest") -> None:
        self._queue.put((kind, job_id))

    def stop(self, timeout: float = 5) -> None:
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout)

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            kind, job_id = work
            try:
                RUNS[kind](self.runtime, job_id)
            except Exception:  # run_job records failures on the job; this only guards the worker
                log.exception("%s job %s crashed the worker", kind, job_id)
