"""Background work: every job kind, where jobs go (this process's thread, or a procrastinate queue on PostgreSQL
for `refinery worker` processes; REFINERY_QUEUE picks), and the `refinery worker` and `refinery job` commands."""

from __future__ import annotations

from service.backlog import jobs as import_jobs
from service.conversations import jobs as conversation_jobs
from service.core.jobs import JobKind, JobQueue, JobRunner
from service.core.runtime import Runtime
from service.ingest import jobs as ingest_jobs
from service.ops.logs import with_job_context
from service.prioritization import jobs as prioritization_jobs
from service.refinement import jobs as refinement_jobs
from service.trackers import jobs as tracker_jobs

JOB_KINDS: list[JobKind] = with_job_context(
    [
        ingest_jobs.JOB,
        prioritization_jobs.JOB,
        refinement_jobs.JOB,
        conversation_jobs.JOB,
        tracker_jobs.JOB,
        tracker_jobs.PULL_JOB,
        import_jobs.JOB,
    ]
)  # each run in its job's log context (job ids in log lines)


def job_queue(runtime: Runtime) -> JobQueue:
    """Where this API process hands its jobs, as REFINERY_QUEUE says."""
    if runtime.settings.queue == "postgres":
        from service.worker.queue import PostgresQueue

        return PostgresQueue(runtime, JOB_KINDS)
    return JobRunner(runtime, JOB_KINDS)
