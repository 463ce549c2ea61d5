"""`refinery view list|add|remove`: the project's saved views of the review queue and the backlog."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from service.core.cli import console, open_runtime, refusals
from service.core.enums import ViewTab

view_app = typer.Typer(
    help="Saved views: named filters of the review queue or the backlog, shared with the project.",
    no_args_is_help=True,
)


@view_app.command("list")
def view_list(tab: Annotated[ViewTab | None, typer.Option(help="Only this tab's views.")] = None) -> None:
    """The project's saved views, by name, each with its address in the desk."""
    from service.views import service

    with open_runtime().db.session() as session:
        views = service.list_views(session, tab)
        table = Table("name", "tab", "filters", "desk address", "by", title=f"Views ({len(views)})")
        for view in views:
            where = f"#{view.tab}?{view.query}" if view.query else f"#{view.tab}"
            table.add_row(escape(view.name), view.tab, escape(view.query or "-"), escape(where), view.created_by or "-")
    console.print(table)


@view_app.command("add")
def view_add(
    name: Annotated[str, typer.Argument(help="The view's name (unique in the project).")],
    tab: Annotated[ViewTab, typer.Option(help="The tab it filters.")],
    query: Annotated[
        str, typer.Argument(help="Its filters, as the desk's address writes them: 'label=billing&state=open'.")
    ] = "",
    author: Annotated[str | None, typer.Option("--as", help="Who saves it (default: your login name).")] = None,
) -> None:
    """Save a view for the whole project."""
    import getpass

    from service.views import service

    with refusals(), open_runtime().db.session() as session:
        view = service.save_view(session, name.strip(), tab, query, author or getpass.getuser())
        console.print(f"Saved view {escape(view.name)!r}: #{view.tab}{'?' + view.query if view.query else ''}")


@view_app.command("remove")
def view_remove(
    name: Annotated[str, typer.Argument(help="The view's name.")],
    author: Annotated[str | None, typer.Option("--as", help="Who removes it (default: your login name).")] = None,
) -> None:
    """Remove a saved view (the operator of this command may remove anyone's)."""
    from service.views import service

    with refusals(), open_runtime().db.session() as session:
        service.remove_view(session, name, author, anyones=True)
    console.print(f"Removed view {escape(name)!r}.")
