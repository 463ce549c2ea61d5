"""GET /healthz: liveness, the database, and where the model stands."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import text

from pipelines.drafting import prompt_version
from service.core.deps import JobsDep, RuntimeDep

router = APIRouter(tags=["health"])


class ServerStatus(BaseModel):
    """One OpenAI-compatible server of the `openai` provider: its circuit breaker's state (closed: in use; open:
    taken out after faults in a row, `reason` says the last; half_open: one probe request decides) and its load."""

    url: str
    state: Literal["closed", "open", "half_open"]
    reason: str = ""
    running: int = 0
    slots: int
    sent: int = Field(0, description="Requests sent to it so far.")


class ModelStatus(BaseModel):
    """Where the model stands. `state`: ready; starting or restarting (`reason` says why); broken (`reason` says
    what to fix); remote for model servers Refinery does not run (`servers`: each one's state); not_started before
    the first use."""

    state: Literal["not_started", "starting", "ready", "restarting", "broken", "stopped", "remote"]
    reason: str = ""
    restarts: int = 0
    last_exit: str | None = None
    pid: int | None = None
    running: int = Field(0, description="Calls the model is working on now.")
    waiting: int = Field(0, description="Calls waiting in line for the model.")
    slots: int | None = Field(None, description="Calls the model works on at once.")
    servers: list[ServerStatus] = Field([], description="The openai provider's servers, each with its breaker.")


class QueueStatus(BaseModel):
    """Where background jobs run: `inline` (a thread of this process) or `postgres` (the procrastinate queue run by
    `refinery worker` processes: how many answered their heartbeat lately, and the tasks waiting and running)."""

    kind: Literal["inline", "postgres"]
    workers: int = Field(description="Processes running jobs (inline: this one).")
    waiting: int = Field(description="Jobs (inline) or tasks (postgres: plans and pieces) waiting for a worker.")
    running: int = Field(description="Tasks running now (inline: 0 or 1 job).")


class Health(BaseModel):
    status: Literal["ok"]
    llm_provider: str
    llm_model: str | None
    llm_loaded: bool = Field(description="The model answers now (llm.state is ready or remote).")
    llm: ModelStatus
    database: str
    queue: QueueStatus
    prompt_versions: dict[str, str]


@router.get("/healthz", response_model=Health)
def healthz(runtime: RuntimeDep, queue: JobsDep) -> Health:
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
        queue=QueueStatus.model_validate(queue.status()),
        prompt_versions={"draft_story": prompt_version()},
    )
