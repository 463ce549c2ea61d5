"""Projects keep their data apart: every row of a project-scoped table (`ProjectScoped`) belongs to one project, and
every ORM statement a session runs sees only the rows of the current project (SQLAlchemy's documented global-filter
recipe: `with_loader_criteria` added in `do_orm_execute`, for SELECT, UPDATE and DELETE); new rows get the current
project. The current project is a context variable: a request sets it from `?project=`, a job from its row, the CLI
from `--project`; it defaults to the default project. `every_project()` lifts the filter for the few places that
must see all (the job runner resuming jobs, backups, migrations)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from service.core.tables import DEFAULT_PROJECT_ID, Project, ProjectScoped

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"  # a project's key, as in URLs (`?project=`) and the CLI

EVERY = 0  # no filter
_current: ContextVar[int] = ContextVar("refinery_project", default=DEFAULT_PROJECT_ID)


def current_project() -> int:
    """The id of the project this code acts on (`EVERY` inside `every_project()`)."""
    return _current.get()


def set_project(project_id: int) -> None:
    """Act on this project for the rest of the current context (a request's, a job thread's, the CLI's)."""
    _current.set(project_id)


@contextmanager
def in_project(project_id: int) -> Iterator[None]:
    token = _current.set(project_id)
    try:
        yield
    finally:
        _current.reset(token)


def every_project() -> Any:
    return in_project(EVERY)


def this_project(session: Session) -> Project | None:
    """The current project's row."""
    return session.get(Project, current_project())


def find_project(session: Session, key: str | None) -> Project | None:
    """A project by key; the default project for None."""
    if key is None:
        return session.get(Project, DEFAULT_PROJECT_ID)
    return session.scalar(select(Project).where(Project.key == key))


def scoped(sessions: sessionmaker) -> sessionmaker:
    """Make these sessions see and write only the current project's rows."""
    event.listen(sessions, "do_orm_execute", _only_the_current_project)
    event.listen(sessions, "before_flush", _new_rows_join_the_current_project)
    return sessions


def _only_the_current_project(state: ORMExecuteState) -> None:
    project = _current.get()
    if project == EVERY or state.is_column_load or state.is_relationship_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(ProjectScoped, lambda cls: cls.project_id == project, include_aliases=True)
        )


def _new_rows_join_the_current_project(session: Session, _context: Any, _instances: Any) -> None:
    project = _current.get()
    for row in session.new:
        if isinstance(row, ProjectScoped) and row.project_id is None:
            if project == EVERY:
                raise RuntimeError(f"a new {type(row).__name__} needs a project: none is current")
            row.project_id = project
