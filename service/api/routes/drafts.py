from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ActorDep, RuntimeDep
from service.drafts import create_draft
from service.schemas import DraftCreate, SuggestionPublic

router = APIRouter(prefix="/v1/drafts", tags=["drafts"])


@router.post("", status_code=201, response_model=SuggestionPublic)
def post_draft(body: DraftCreate, runtime: RuntimeDep, actor: ActorDep) -> SuggestionPublic:
    """Draft a user story from a raw idea. The result is a pending suggestion (or a failed one, with the reason)."""
    suggestion = create_draft(runtime, body.text, body.context, actor)
    return SuggestionPublic.model_validate(suggestion)
