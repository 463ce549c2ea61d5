"""Projects over HTTP. Every other route acts on the project its `?project=KEY` names (the default one without)."""

from __future__ import annotations

from fastapi import APIRouter

from service.accounts import PrincipalDep
from service.core.deps import ActorDep, RuntimeDep
from service.inbox import service as inbox
from service.projects import service
from service.projects.schemas import ProjectCreate, ProjectPublic

router = APIRouter(prefix="/v1/projects", tags=["projects"])


@router.get("", response_model=list[ProjectPublic])
def list_projects(runtime: RuntimeDep, principal: PrincipalDep, actor: ActorDep) -> list[ProjectPublic]:
    """The projects you are a member of (all of them while accounts are off), each with how many lines of your inbox
    there are unread (null when you are not named: no account, no X-User)."""
    with runtime.db.session() as session:
        found = service.list_projects(session, principal.user_id if principal else None)
        unread = inbox.unread_by_project(session, actor) if actor else None
        return [
            ProjectPublic(
                key=p.key,
                name=p.name,
                created_at=p.created_at,
                role=role,
                unread=None if unread is None else unread.get(p.id, 0),
            )
            for p, role in found
        ]


@router.post("", response_model=ProjectPublic, status_code=201, responses={409: {}})
def create_project(body: ProjectCreate, runtime: RuntimeDep, principal: PrincipalDep) -> ProjectPublic:
    """A new, empty project; you become its admin."""
    with runtime.db.session() as session:
        project = service.create_project(session, body.key, body.name, principal.user_id if principal else None)
        role = "admin" if principal else None
        return ProjectPublic(key=project.key, name=project.name, created_at=project.created_at, role=role)
