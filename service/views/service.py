"""Saved views: kept per project, their filters checked and written in one order, deleted by who saved them or an
admin."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.models import ITEM_TYPES
from service.core.enums import SuggestionKind, SuggestionStatus, ViewTab
from service.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.core.tables import SavedView

# Each tab's filters, in the order the desk writes them, with the values each takes (None: any text up to 200).
FILTERS: dict[ViewTab, dict[str, frozenset[str] | None]] = {
    ViewTab.review: {
        "kind": frozenset(SuggestionKind),
        "status": frozenset(SuggestionStatus) | {"all", ""},  # "": all, as the desk wrote it until 2026-11-29
        "q": None,
        "assigned": frozenset({"me", "none"}),
    },
    ViewTab.backlog: {
        "q": None,
        "type": frozenset(ITEM_TYPES),
        "label": None,
        "under": None,
        "state": frozenset({"open", "closed", "all"}),
    },
}


def filters(tab: ViewTab, query: str) -> str:
    """`query` checked against the tab's filters and written in their order; InvalidInput saying what to fix."""
    wanted = FILTERS[tab]
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in wanted:
            raise InvalidInput(f"{name!r} is not a filter of the {tab} tab: use {', '.join(wanted)}")
        if name in given:
            raise InvalidInput(f"the filter {name!r} is given twice: give it once")
        allowed = wanted[name]
        if allowed is not None and value not in allowed:
            raise InvalidInput(f"{value!r} is not a value of {name!r}: use one of {', '.join(sorted(allowed - {''}))}")
        if len(value) > 200:
            raise InvalidInput(f"the filter {name!r} has {len(value)} characters; at most 200")
        given[name] = "all" if (name, value) == ("status", "") else value
    return urlencode([(name, given[name]) for name in wanted if name in given])


def list_views(session: Session, tab: ViewTab | None = None) -> list[SavedView]:
    query = select(SavedView).order_by(SavedView.name)
    return list(session.scalars(query.where(SavedView.tab == tab) if tab else query))


def save_view(session: Session, name: str, tab: ViewTab, query: str, actor: str | None) -> SavedView:
    written = filters(tab, query)
    if session.scalar(select(SavedView.id).where(SavedView.name == name)) is not None:
        raise Conflict(f"this project has a view named {name!r} already: choose another name, or remove that one")
    view = SavedView(name=name, tab=tab, query=written, created_by=actor)
    session.add(view)
    session.flush()
    return view


def find_view(session: Session, ref: int | str) -> SavedView:
    """A view by id, or (a name) by name; NotFound saying which."""
    where = SavedView.id == ref if isinstance(ref, int) else SavedView.name == ref
    view = session.scalar(select(SavedView).where(where))
    if view is None:
        raise NotFound(f"this project has no view {ref!r}" if isinstance(ref, str) else f"no view with id {ref}")
    return view


def view_filters(session: Session, name: str, tab: ViewTab) -> dict[str, str]:
    """The filters of the saved view `name`, which must be one of `tab`'s; NotFound or InvalidInput saying why."""
    view = find_view(session, name)
    if view.tab != tab:
        raise InvalidInput(
            f"the view {name!r} filters the {view.tab} tab, not the {tab}: `refinery view list --tab {tab}`"
        )
    return dict(parse_qsl(view.query, keep_blank_values=True))


def remove_view(session: Session, ref: int | str, actor: str | None, anyones: bool) -> None:
    """Remove a view: one's own, or anyone's where `anyones` (an admin; everyone while accounts are off)."""
    view = find_view(session, ref)
    if not anyones and view.created_by != actor:
        raise Forbidden(
            f"the view {view.name!r} is {view.created_by or 'someone else'}'s: only they or an admin remove it"
        )
    session.delete(view)
