"""The FastAPI application: every feature's routes, the job runner with every job kind, the error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from pipelines.embeddings import EmbeddingsUnavailable
from pipelines.llm import LLM, LLMUnavailable
from pipelines.vectorstore import VectorStoreUnavailable
from service.accounts import routes as accounts
from service.accounts.access import authorize
from service.api import docs, hardening, health
from service.api.origin import SameOriginMiddleware
from service.backlog import routes as backlog
from service.conversations import routes as conversations
from service.core.errors import DomainError
from service.core.runtime import Runtime
from service.core.settings import Settings, get_settings
from service.drafting import routes as drafting
from service.duplicates import routes as duplicates
from service.inbox import routes as inbox
from service.inbox.mail import mailer
from service.ingest import routes as ingest
from service.ops import api as ops
from service.prioritization import routes as prioritization
from service.projects import routes as projects
from service.refinement import routes as refinement
from service.review import routes as review
from service.trackers import routes as trackers
from service.trackers.schedule import schedule
from service.views import routes as views
from service.webhooks import routes as webhooks
from service.webhooks.delivery import sender
from service.worker import job_queue

WEB = Path(__file__).resolve().parent.parent / "web"
ROUTERS = (
    drafting, review, inbox, refinement, conversations, backlog, duplicates, ingest, prioritization, accounts, projects,
    webhooks, trackers, views, health,
)  # fmt: skip
ACCESS_RESPONSES = {
    401: {"description": "Accounts are on and the request did not prove who sent it."},
    403: {"description": "The caller's role may not do this, or the request came from another website."},
    404: {"description": "Not found; also a project (`?project=`) that does not exist or is not the caller's."},
}


def create_app(settings: Settings | None = None, llm: LLM | None = None) -> FastAPI:
    """Build the app; `llm` overrides the configured provider (tests pass a fake one)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.jobs.start()  # resumes jobs a previous process left unfinished
        app.state.webhooks.start()  # sends what is due, this process's deliveries and any other's
        app.state.schedule.start()  # pulls the trackers whose connection says how often
        if app.state.runtime.settings.smtp_host:
            app.state.mailer.start()  # mails inbox lines still unread a while after they were written
        yield
        app.state.mailer.stop()
        app.state.schedule.stop()
        app.state.webhooks.stop()
        app.state.jobs.stop()
        app.state.runtime.release_model_calls()

    app = FastAPI(
        lifespan=lifespan,
        dependencies=[Depends(authorize)],  # service.accounts.access: one rule per route
        title="Refinery",
        version="0.1.0",
        description="AI-assisted backlog refinement: every AI output is a suggestion a person reviews.",
        docs_url=None,  # service.api.docs serves /docs from this server; FastAPI's pages load from a CDN
        redoc_url=None,
    )
    app.state.runtime = Runtime(settings or get_settings(), llm)
    app.state.webhooks = sender(app.state.runtime.db)
    app.state.mailer = mailer(app.state.runtime.db, app.state.runtime.settings)
    app.state.jobs = job_queue(app.state.runtime)  # REFINERY_QUEUE: this process's thread, or worker processes
    app.state.schedule = schedule(app.state.runtime, app.state.jobs)
    for module in ROUTERS:
        app.include_router(module.router, responses=ACCESS_RESPONSES)
    settings = app.state.runtime.settings
    app.add_middleware(SameOriginMiddleware, allowed_origins=settings.allowed_origins)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)  # outermost: DNS rebinding
    hardening.install(app)  # body limits, JSON body checks, short 422s, security headers, model rate limit
    docs.install(app)  # /docs without a CDN
    ops.install(app)  # request ids, a log line per request (refused ones too), /metrics

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
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
