"""Reading a conversation as a background job: chunk by chunk (progress = chunks done of all), then one
suggestion per verified note. A job a crash interrupted starts its conversation again from the first chunk."""

from __future__ import annotations

import logging

from pipelines.conversation import chunks, extract
from pipelines.llm import LLMUnavailable
from service.conversations import service
from service.core import jobs
from service.core.enums import FINISHED, JobStatus
from service.core.runtime import Runtime
from service.core.tables import ConversationJob, utcnow

log = logging.getLogger(__name__)


def get_job(runtime: Runtime, job_id: int) -> ConversationJob:
    return jobs.get_job(runtime, ConversationJob, job_id, "conversation")


def run_job(runtime: Runtime, job_id: int) -> None:
    job = get_job(runtime, job_id)
    if job.status in FINISHED:
        return
    conversation = service.get_conversation(runtime, job.conversation_id)
    turns = service.redacted_turns(conversation)
    update = runtime.db.update
    update(ConversationJob, job_id, status=JobStatus.running, started_at=utcnow(), processed=0,
           total=len(chunks(turns)), failed=0, suggestions=0)  # fmt: skip
    try:
        llm = runtime.llm()
        result = extract(
            llm,
            turns,
            lambda piece: service.backlog_for(runtime, piece),
            conversation.title,
            lambda done, _total: update(ConversationJob, job_id, processed=done),
        )
        made = service.make_suggestions(runtime, conversation.id, result, conversation.actor) if result.calls else 0
    except LLMUnavailable as exc:
        update(ConversationJob, job_id, status=JobStatus.failed, errors=[str(exc)], finished_at=utcnow())
        return
    except Exception as exc:
        log.exception("conversation job %s failed", job_id)
        update(ConversationJob, job_id, status=JobStatus.failed, errors=[f"{type(exc).__name__}: {exc}"],
               finished_at=utcnow())  # fmt: skip
        return
    errors = result.failed_chunks + [f"quote not in the transcript, dropped: {q}" for q in result.quotes_dropped]
    every_chunk_failed = bool(result.calls) and len(result.failed_chunks) == len(result.calls)
    update(
        ConversationJob,
        job_id,
        status=JobStatus.failed if every_chunk_failed else JobStatus.done,
        failed=len(result.failed_chunks),
        suggestions=made,
        quotes_checked=result.quotes_checked,
        quotes_dropped=len(result.quotes_dropped),
        errors=(errors + result.warnings)[:100],
        finished_at=utcnow(),
    )


JOB = jobs.JobKind("conversation", ConversationJob, run_job)


def eta_seconds(job: ConversationJob) -> float | None:
    if job.status != JobStatus.running:
        return None
    return jobs.eta_seconds(job.started_at, job.processed, job.total - job.processed)
