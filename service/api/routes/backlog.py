from __future__ import annotations

from fastapi import APIRouter, Query

from service import backlog
from service.api.deps import RuntimeDep
from service.schemas import BacklogItemCreate, BacklogItemPublic, ImportResult

router = APIRouter(prefix="/v1/backlog", tags=["backlog"])


@router.get("", response_model=list[BacklogItemPublic])
def list_backlog(
    runtime: RuntimeDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)
) -> list[BacklogItemPublic]:
    with runtime.db.session() as session:
        return [BacklogItemPublic.model_validate(i) for i in backlog.list_items(session, limit, offset)]


@router.get("/{item_id}", response_model=BacklogItemPublic)
def get_backlog_item(item_id: int, runtime: RuntimeDep) -> BacklogItemPublic:
    with runtime.db.session() as session:
        return BacklogItemPublic.model_validate(backlog.get_item(session, item_id))


@router.post("/items", status_code=201, response_model=ImportResult)
def import_backlog_items(body: BacklogItemCreate | list[BacklogItemCreate], runtime: RuntimeDep) -> ImportResult:
    """Import existing items (one object or a list). Re-importing an external_id creates nothing."""
    items = body if isinstance(body, list) else [body]
    with runtime.db.session() as session:
        created, skipped = backlog.import_items(session, items)
        return ImportResult(created=[BacklogItemPublic.model_validate(i) for i in created], skipped=skipped)
