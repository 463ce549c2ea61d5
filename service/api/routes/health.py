from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from pipelines.drafting import prompt_version
from service.api.deps import RuntimeDep
from service.schemas import Health, ModelStatus

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(runtime: RuntimeDep) -> Health:
    """Liveness, the active LLM provider and model, and where the model stands: starting, ready, restarting or
    broken (with the reason and what to do), how many calls it is working on and how many wait in line."""
    with runtime.db.session() as session:
        session.execute(text("SELECT 1"))
    return Health(
        status="ok",
        llm_provider=runtime.settings.llm_provider,
        llm_model=runtime.llm_model,
        llm_loaded=runtime.llm_loaded,
        llm=ModelStatus.model_validate(runtime.model_status()),
        database=runtime.db.engine.dialect.name,
        prompt_versions={"draft_story": prompt_version()},
    )
