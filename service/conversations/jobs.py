"""Reading a conversation as a background job: chunk by chunk (progress = chunks done of all), then one
suggestion per verified note. A job a crash interrupted starts its conversation again from the first chunk. Each
chunk is a piece: a cancelled job reads no more chunks and makes no suggestion (the notes are merged at the end)."""

from __future__ import annotations

import logging
from functools import partial

from pipelines.conversation import chunks, extract
from pipelines.llm import LLMUnavailable
from service.conversations import service
from service.conversations.schemas import ConversationJobPublic
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
    started = dict(started_at=utcnow(), processed=0, total=len(chunks(turns)), failed=0, suggestions=0)
    if not jobs.claim(runtime, ConversationJob, job_id, **started):
        return

    def progress(done: int, _total: int) -> None:
        runtime.db.update(ConversationJob, job_id, processed=done)
        jobs.stop_if_cancelled(runtime, ConversationJob, job_id)

    try:
        llm = runtime.llm()
        items = partial(service.backlog_for, runtime, item_id=conversation.item_id)
        result = extract(llm, turns, items, conversation.title, progress)
        made = service.make_suggestions(runtime, conversation.id, result, conversation.actor) if result.calls else 0
    except jobs.Cancelled:
        log.info("conversation job %s stopped: it was cancelled", job_id)
        return
    except LLMUnavailable as exc:
        jobs.finish(runtime, ConversationJob, job_id, JobStatus.failed, errors=[str(exc)])
        return
    except Exception as exc:
        log.exception("conversation job %s failed", job_id)
        jobs.finish(runtime, ConversationJob, job_id, JobStatus.failed, errors=[f"{type(exc).__name__}: {exc}"])
        return
    errors = result.failed_chunks + [f"quote not in the transcript, dropped: {q}" for q in result.quotes_dropped]
    jobs.finish(
        runtime,
        ConversationJob,
        job_id,
        jobs.outcome(len(result.calls), len(result.failed_chunks)),
        failed=len(result.failed_chunks),
        suggestions=made,
        quotes_checked=result.quotes_checked,
        quotes_dropped=len(result.quotes_dropped),
        errors=(errors + result.warnings)[:100],
    )


def public(job: ConversationJob) -> ConversationJobPublic:
    """The job's status as clients see it."""
    return jobs.shown(ConversationJobPublic, job)


JOB = jobs.JobKind("conversation", ConversationJob, run_job, public)
