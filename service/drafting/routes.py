from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, HTTPException

from pipelines.drafting import check_input
from service.core.deps import ActorDep, RuntimeDep
from service.core.ratelimit import ModelCallLimit
from service.core.schemas import IdPath, SuggestionPublic, errors
from service.core.streaming import event_stream, in_model_pool, wants_events
from service.drafting import learning
from service.drafting.schemas import DraftCreate, DraftLearningPublic, RegenerateRequest
from service.drafting.service import create_draft, regenerate_draft

router = APIRouter(tags=["drafting"])

STREAM_DOC = {
    200: {
        "description": "With `Accept: text/event-stream` (or `stream: true`): server-sent events. `queued` "
        '{"position"} while the model is busy with other calls; `waiting` {"state", "reason"} while it starts or '
        'restarts; `started`; `field` {"field": "title" | "acceptance_criteria.0" | ..., "value"} as each field '
        'is written; `retry` {"attempt", "reason"} when the model answers again (fields heard so far are void); '
        "then `done` with the stored suggestion (also when it failed).",
        "content": {"text/event-stream": {}},
    }
}


@router.post(
    "/v1/drafts",
    status_code=201,
    response_model=SuggestionPublic,
    responses=STREAM_DOC | errors(400, 413, 422, 429, 503),
    dependencies=[ModelCallLimit],
)
async def post_draft(
    body: DraftCreate,
    runtime: RuntimeDep,
    actor: ActorDep,
    accept: Annotated[str | None, Header()] = None,
):
    """Draft a user story from a raw idea. The result is a pending suggestion (or a failed one, with the reason).
    Streamed, each field arrives as soon as the model has written it; what is stored is the same."""
    try:
        check_input(body.text, body.context)
    except ValueError as exc:  # input the pipeline refuses (e.g. too long once cleaned)
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    if wants_events(accept, body.stream):
        return event_stream(
            runtime,
            lambda listener: SuggestionPublic.model_validate(
                create_draft(runtime, body.text, body.context, actor, listener)
            ).model_dump(mode="json"),
        )
    suggestion = await in_model_pool(runtime, lambda: create_draft(runtime, body.text, body.context, actor))
    return SuggestionPublic.model_validate(suggestion)


@router.post(
    "/v1/suggestions/{suggestion_id}/regenerate",
    response_model=SuggestionPublic,
    responses=errors(400, 404, 409, 413, 422, 429, 503),
    dependencies=[ModelCallLimit],
)
async def regenerate(
    suggestion_id: IdPath, runtime: RuntimeDep, actor: ActorDep, body: RegenerateRequest | None = Body(None)
) -> SuggestionPublic:
    """Draft a pending or failed story suggestion again, replacing its draft (the old one stays in history)."""
    body = body or RegenerateRequest()
    try:
        suggestion = await in_model_pool(
            runtime, lambda: regenerate_draft(runtime, suggestion_id, body.text, body.context, actor)
        )
    except ValueError as exc:  # input the pipeline refuses
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return SuggestionPublic.model_validate(suggestion)


@router.get("/v1/drafts/learning", response_model=DraftLearningPublic)
def draft_learning(runtime: RuntimeDep) -> DraftLearningPublic:
    """What drafting learned in this project: its drafts accepted with edits, the latest of which are examples in
    the drafting prompt."""
    return DraftLearningPublic(**learning.learned(runtime))


@router.delete("/v1/drafts/learning", response_model=DraftLearningPublic)
def reset_draft_learning(runtime: RuntimeDep) -> DraftLearningPublic:
    """Forget this project's accepted edits (admins): drafts use the built-in examples until the next edit."""
    return DraftLearningPublic(**learning.reset(runtime))
