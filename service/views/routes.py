"""The saved views routes: /v1/views."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.accounts import AnyonesDep
from service.core.deps import ActorDep, RuntimeDep
from service.core.enums import ViewTab
from service.core.schemas import IdPath, errors
from service.views import service
from service.views.schemas import SavedViewCreate, SavedViewPublic

router = APIRouter(prefix="/v1/views", tags=["views"])


@router.get("", response_model=list[SavedViewPublic], responses=errors(422))
def list_views(runtime: RuntimeDep, tab: ViewTab | None = None) -> list[SavedViewPublic]:
    """The project's saved views (of one tab, when `tab` is given), by name."""
    with runtime.db.session() as session:
        return [SavedViewPublic.model_validate(view) for view in service.list_views(session, tab)]


@router.post("", status_code=201, response_model=SavedViewPublic, responses=errors(409, 422))
def save_view(body: SavedViewCreate, runtime: RuntimeDep, actor: ActorDep) -> SavedViewPublic:
    """Save a view for the whole project: a tab and its filters (`query`, as the desk's address writes them)."""
    with runtime.db.session() as session:
        view = service.save_view(session, body.name, body.tab, body.query, actor)
        return SavedViewPublic.model_validate(view)


@router.delete("/{view_id}", status_code=204, responses=errors(403, 404))
def remove_view(view_id: IdPath, runtime: RuntimeDep, actor: ActorDep, anyones: AnyonesDep) -> Response:
    """Remove a view: your own; an admin's, anyone's (while accounts are off, anyone's)."""
    with runtime.db.session() as session:
        service.remove_view(session, view_id, actor, anyones)
    return Response(status_code=204)
