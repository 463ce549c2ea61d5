"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from pipelines.embeddings import EmbeddingsUnavailable
from pipelines.llm import LLM, LLMUnavailable
from pipelines.vectorstore import VectorStoreUnavailable
from service.api.routes import backlog, drafts, duplicates, health, ingest, prioritization, suggestions
from service.jobs import JobRunner
from service.review import ReviewError
from service.runtime import Runtime
from service.settings import Settings, get_settings

WEB = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings | None = None, llm: LLM | None = None) -> FastAPI:
    """Build the app; `llm` overrides the configured provider (tests pass a fake one)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.jobs.start()  # resumes jobs a previous process left unfinished
        yield
        app.state.jobs.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Refinery",
        version="0.1.0",
        description="AI-assisted backlog refinement: every AI output is a suggestion a person reviews.",
    )
    app.state.runtime = Runtime(settings or get_settings(), llm)
    app.state.jobs = JobRunner(app.state.runtime)
    for module in (drafts, suggestions, backlog, duplicates, ingest, prioritization, health):
        app.include_router(module.router)

    @app.exception_handler(ReviewError)
    async def _review_error(_request: Request, exc: ReviewError) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc)})

    @app.exception_handler(LLMUnavailable)
    async def _llm_unavailable(_request: Request, exc: LLMUnavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"the LLM is not available: {exc}"})

    @app.exception_handler(EmbeddingsUnavailable)
    @app.exception_handler(VectorStoreUnavailable)
    async def _index_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"duplicate detection is not available: {exc}"})

    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def _review_desk() -> FileResponse:
        """The review desk: a page over this API (no CDN; everything is served from here)."""
        return FileResponse(WEB / "index.html")

    return app
