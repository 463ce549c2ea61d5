"""The in-process job runner: one worker thread runs queued ingest jobs and, at start, resumes unfinished ones.

The unit it hands out is a job id and the job's stages hand out small serialisable batches, so a distributed
queue (Celery, RQ, Arq) can replace this class without touching `service.ingest`.
"""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy import select

from service import ingest
from service.runtime import Runtime
from service.tables import IngestJob

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker and queue every job a previous process left queued or running."""
        with self.runtime.db.session() as session:
            unfinished = session.scalars(
                select(IngestJob.id).where(IngestJob.status.in_(("queued", "running"))).order_by(IngestJob.id)
            ).all()
        for job_id in unfinished:
            log.info("resuming ingest job %s", job_id)
            self._queue.put(job_id)
        self._thread = threading.Thread(target=self._work, daemon=True, name="ingest-jobs")
        self._thread.start()

    def submit(self, job_id: int) -> None:
        self._queue.put(job_id)

    def stop(self, timeout: float = 5) -> None:
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout)

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            try:
                ingest.run_job(self.runtime, job_id)
            except Exception:  # run_job records failures on the job; this only guards the worker
                log.exception("ingest job %s crashed the worker", job_id)
