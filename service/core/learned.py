"""Models fitted on what a team already decided (its priorities, its story points), kept until that changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.core.runtime import Runtime
from service.core.scope import current_project
from service.core.tables import BacklogItem

log = logging.getLogger(__name__)
HISTORY = 20_000  # the most recent decided items a model learns from
Fitted = TypeVar("Fitted")
_FITTED: dict[str, tuple[tuple, Any]] = {}  # by what was decided: (what the last fit read, the fit)


def _decided(decided: InstrumentedAttribute, excluded: list[int]) -> tuple:
    return decided.is_not(None), BacklogItem.merged_into_id.is_(None), BacklogItem.id.not_in(excluded)


def decided_items(
    session: Session, decided: InstrumentedAttribute, excluded: list[int] | None = None, limit: int = HISTORY
) -> list[tuple[int, str, str, Any]]:
    """(id, title, description, decision) of the `limit` newest items (not merged, not `excluded`) whose `decided`
    column is set."""
    columns = (BacklogItem.id, BacklogItem.title, BacklogItem.description, decided)
    query = select(*columns).where(*_decided(decided, excluded or []))
    rows = session.execute(query.order_by(BacklogItem.id.desc()).limit(limit))
    return [(item_id, title, description or "", value) for item_id, title, description, value in rows]


def decided_rows(
    session: Session, decided: InstrumentedAttribute, excluded: list[int] | None = None, limit: int = HISTORY
) -> list[tuple[str, str, Any]]:
    """`decided_items` without the ids."""
    return [row[1:] for row in decided_items(session, decided, excluded, limit)]


def learned(
    runtime: Runtime,
    decided: InstrumentedAttribute,
    excluded: list[int],
    fit: Callable[[list[tuple[str, str, Any]]], Fitted | None],
    limit: int = HISTORY,
) -> Fitted | None:
    """`fit` over (title, description, decision) of the `limit` newest items whose `decided` column is set, excluding
    `excluded` (the items being estimated); its result is kept while those items are unchanged. A ValueError from `fit`
    (e.g. no word left after stop words) is logged and gives None: the estimates then stand without it."""
    with runtime.db.session() as session:
        where = _decided(decided, excluded)
        count, changed = session.execute(select(func.count(), func.max(BacklogItem.updated_at)).where(*where)).one()
        key = (runtime.db.url, current_project(), count, changed, tuple(sorted(excluded)))
        if (kept := _FITTED.get(decided.key)) and kept[0] == key:
            return kept[1]
        rows = decided_rows(session, decided, excluded, limit)
    try:
        result = fit(rows)
    except ValueError:
        log.exception("what the team decided (%s) could not be learned", decided.key)
        result = None
    _FITTED[decided.key] = (key, result)
    return result


def forget() -> None:
    """Drop every kept fit (the next call fits again)."""
    _FITTED.clear()
