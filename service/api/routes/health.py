from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from pipelines.drafting import prompt_version
from service.api.deps import RuntimeDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(runtime: RuntimeDep) -> Health:
    """Liveness plus which LLM provider and model are active."""
    with runtime.db.session() as session:
        session.execute(text("SELECT 1"))
    return Health(
        status="ok",
        llm_provider=runtime.settings.llm_provider,
        llm_model=runtime.llm_model,
        llm_loaded=runtime.llm_loaded,
        database=runtime.db.engine.dialect.name,
        prompt_versions={"draft_story": prompt_version()},
    )
