"""FastAPI dependencies every feature's routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from service.core.jobs import JobQueue
from service.core.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_jobs(request: Request) -> JobQueue:
    return request.app.state.jobs


def get_actor(request: Request, x_user: Annotated[str | None, Header(max_length=200)] = None) -> str | None:
    """Who is acting: the authenticated user once accounts are on (service.accounts.access sets it); before that,
    on a loopback-only laptop, the name the X-User header gives."""
    return getattr(request.state, "user", None) or (None if verified(request) else x_user)


def verified(request: Request) -> bool:
    """Accounts are on and the caller proved who they are: names a request claims (X-User, decided_by) are ignored."""
    return getattr(request.state, "principal", None) is not None


def decider(request: Request, actor: str | None, claimed: str | None) -> str | None:
    """Who a decision is recorded for: the authenticated user; without accounts, a name the body gives, or X-User."""
    return actor if verified(request) else claimed or actor


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]
ActorDep = Annotated[str | None, Depends(get_actor)]
