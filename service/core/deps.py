"""FastAPI dependencies every feature's routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from service.core.jobs import JobRunner
from service.core.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_jobs(request: Request) -> JobRunner:
    return request.app.state.jobs


def get_actor(x_user: Annotated[str | None, Header(max_length=200)] = None) -> str | None:
    """Who is deciding: the X-User header until authentication lands."""
    return x_user


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
JobsDep = Annotated[JobRunner, Depends(get_jobs)]
ActorDep = Annotated[str | None, Depends(get_actor)]
