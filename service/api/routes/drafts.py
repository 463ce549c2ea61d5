from __future__ import annotations

from fastapi import APIRouter, HTTPException

from service.api.deps import ActorDep, RuntimeDep
from service.drafts import create_draft
from service.schemas import DraftCreate, SuggestionPublic

router = APIRouter(prefix="/v1/drafts", tags=["drafts"])


@router.post("", status_code=201, response_model=SuggestionPublic)
def post_draft(body: DraftCreate, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Draft a user story from a raw idea. The result is a pending suggestion (or a failed one, with the reason)."""
    try:
        suggestion = create_draft(runtime, body.text, body.context, actor)
    except ValueError as exc:  # input the pipeline refuses (e.g. too long once cleaned)
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return SuggestionPublic.model_validate(suggestion)
