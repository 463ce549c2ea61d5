"""Creating and listing projects. Which rows belong to which project is service.core.scope's business."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.enums import Role
from service.core.errors import Conflict, InvalidInput
from service.core.scope import KEY_PATTERN
from service.core.tables import Membership, Project


def create_project(session: Session, key: str, name: str, admin_id: int | None = None) -> Project:
    """A new, empty project; `admin_id` (its creator) becomes its first admin."""
    if not re.match(KEY_PATTERN, key):
        raise InvalidInput("a project key is 1-40 letters, digits, - or _, starting with a letter or digit")
    if session.scalar(select(Project).where(Project.key == key)) is not None:
        raise Conflict(f"project {key!r} exists already")
    project = Project(key=key, name=name or key)
    session.add(project)
    session.flush()
    if admin_id is not None:
        session.add(Membership(user_id=admin_id, project_id=project.id, role=Role.admin))
    return project


def list_projects(session: Session, user_id: int | None = None) -> list[tuple[Project, str | None]]:
    """Projects with the user's role in each: all (role None) when `user_id` is None, else the user's."""
    if user_id is None:
        return [(project, None) for project in session.scalars(select(Project).order_by(Project.id))]
    rows = session.execute(
        select(Project, Membership.role)
        .join(Membership, Membership.project_id == Project.id)
        .where(Membership.user_id == user_id)
        .order_by(Project.id)
    )
    return [(project, role) for project, role in rows]
