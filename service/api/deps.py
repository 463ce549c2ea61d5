"""FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from service.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_actor(x_user: Annotated[str | None, Header(max_length=200)] = None) -> str | None:
    """Who is deciding: the X-User header until authentication lands."""
    return x_user


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ActorDep = Annotated[str | None, Depends(get_actor)]
