"""`refinery project add|list`; every other command acts on the project `refinery --project KEY` names."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from service.core.cli import console, open_runtime, refusals

project_app = typer.Typer(help="Projects: several backlogs in one instance.", no_args_is_help=True)


@project_app.command("add")
def project_add(
    key: Annotated[str, typer.Argument(help="Letters, digits, - and _: what `--project` and `?project=` name.")],
    name: Annotated[str, typer.Option(help="A longer name.")] = "",
    admin: Annotated[str | None, typer.Option(help="A user who becomes its admin.")] = None,
) -> None:
    """Add an empty project."""
    from service.accounts.service import get_user
    from service.projects import service

    with refusals(), open_runtime().db.session() as session:
        admin_id = get_user(session, admin).id if admin else None
        service.create_project(session, key, name, admin_id)
    console.print(f"Added project {key}" + (f" with {admin} as its admin." if admin else "."))


@project_app.command("list")
def project_list() -> None:
    """List projects."""
    from service.projects import service

    with open_runtime().db.session() as session:
        projects = service.list_projects(session)
    table = Table("key", "name", "created", title=f"Projects ({len(projects)})")
    for project, _ in projects:
        table.add_row(project.key, project.name, f"{project.created_at:%Y-%m-%d}")
    console.print(table)
