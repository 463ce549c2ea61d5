from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

from pipelines.transcripts import TranscriptFormat
from service.conversations import jobs, service
from service.conversations.schemas import ConversationCreated, ConversationJobPublic, ConversationPublic
from service.core.deps import ActorDep, JobsDep, RuntimeDep
from service.core.schemas import IdPath, errors
from service.core.tables import ConversationJob

router = APIRouter(tags=["conversations"])
MAX_UPLOAD_BYTES = 20_000_000  # a two-hour meeting is about 150 kB of text; a Slack day file rarely 5 MB


@router.post(
    "/v1/conversations", status_code=202, response_model=ConversationCreated, responses=errors(400, 413, 422, 429)
)
def post_conversation(
    runtime: RuntimeDep,
    runner: JobsDep,
    actor: ActorDep,
    file: Annotated[
        UploadFile, File(description="A transcript (Speaker: lines, WebVTT, SRT, JSON turns) or a Slack export.")
    ],
    format: Annotated[
        TranscriptFormat | None, Form(description="text | vtt | srt | json | slack; default: guessed.")
    ] = None,
    title: Annotated[str | None, Form(max_length=300, description="Default: the file name.")] = None,
) -> ConversationCreated:
    """Store the conversation and start a job that turns it into decisions, action items, new stories and changes
    to backlog items, each a suggestion with the lines it rests on; poll the status URL."""
    data = file.file.read(MAX_UPLOAD_BYTES + 1)  # a plain def: parsing and storing run off the event loop
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(
            status_code=413,
            detail=f"the file is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB; upload one meeting or channel a time",
        )
    return _started(runner, service.store(runtime, data, format, title, file.filename or "conversation", actor))


@router.post(
    "/v1/backlog/{item_id}/discussion",
    status_code=202,
    response_model=ConversationCreated,
    responses=errors(404, 422, 429),
)
def post_discussion(item_id: IdPath, runtime: RuntimeDep, runner: JobsDep, actor: ActorDep) -> ConversationCreated:
    """Read the item's comments as a conversation, in the background: what the thread decided, assigned or left open,
    changes to this item and new work become suggestions, each with the comments it rests on, as a meeting's do.
    An item without comments is a 422."""
    return _started(runner, service.store_thread(runtime, item_id, actor))


def _started(runner: JobsDep, job: ConversationJob) -> ConversationCreated:
    runner.submit(jobs.JOB, job.id)
    return ConversationCreated(
        job_id=job.id,
        status_url=f"/v1/conversations/jobs/{job.id}",
        conversation_id=job.conversation_id,
        conversation_url=f"/v1/conversations/{job.conversation_id}",
    )


@router.get("/v1/conversations/jobs/{job_id}", response_model=ConversationJobPublic, responses=errors(404))
def get_conversation_job(job_id: IdPath, runtime: RuntimeDep) -> ConversationJobPublic:
    return jobs.public(jobs.get_job(runtime, job_id))


@router.get("/v1/conversations/{conversation_id}", response_model=ConversationPublic, responses=errors(404))
def get_conversation(conversation_id: IdPath, runtime: RuntimeDep) -> ConversationPublic:
    return ConversationPublic.model_validate(service.get_conversation(runtime, conversation_id))
