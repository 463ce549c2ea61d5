"""Who may call what: one rule per route (the role it needs, or PUBLIC), checked by one dependency on every route.

With no users the service is open (as on a laptop, bound to loopback; `X-User` names the reviewer). Once a user
exists every request proves who it is by an API token (`Authorization: Bearer`) or the desk's session cookie, plus
X-CSRF-Token on state-changing requests with the cookie. A route without a rule is refused, so a new route cannot
slip out unguarded (tests/test_access.py fails until it has one)."""

from __future__ import annotations

import contextlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.accounts import service
from service.accounts.service import CredentialKind, Principal
from service.core import scope
from service.core.enums import DEFAULT_PROJECT, Role

PUBLIC = None
SIGNED_IN = "signed in"  # any authenticated user, member of the project or not (their own tokens, projects)
SESSION_COOKIE = "refinery_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

V, R, A = Role.viewer, Role.reviewer, Role.admin
ACCESS: dict[tuple[str, str], Role | str | None] = {
    ("GET", "/"): PUBLIC,  # the desk's page; it asks for a login itself
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/docs"): PUBLIC,  # Swagger UI's page and its settings script (the schema itself is public too)
    ("GET", "/docs/assets/swagger-init.js"): PUBLIC,
    ("POST", "/v1/auth/login"): PUBLIC,
    ("GET", "/v1/auth/me"): PUBLIC,
    ("PATCH", "/v1/auth/me"): SIGNED_IN,  # one's own e-mail settings
    ("POST", "/v1/auth/password"): SIGNED_IN,  # one's own password
    ("POST", "/v1/auth/logout"): SIGNED_IN,
    ("GET", "/v1/projects"): SIGNED_IN,  # the caller's projects
    ("POST", "/v1/projects"): A,
    ("GET", "/v1/mail/unsubscribe"): PUBLIC,  # a mail's link: its token says whose mail stops
    ("POST", "/v1/mail/unsubscribe"): PUBLIC,
    ("GET", "/v1/people"): V,  # names to mention or assign: members only, with their roles
    ("GET", "/v1/users"): A,
    ("POST", "/v1/users"): A,
    ("PUT", "/v1/users/{name}"): A,
    ("DELETE", "/v1/users/{name}"): A,
    ("GET", "/v1/tokens"): SIGNED_IN,  # one's own (the CLI shows all)
    ("POST", "/v1/tokens"): SIGNED_IN,
    ("DELETE", "/v1/tokens/{token_id}"): SIGNED_IN,
    ("POST", "/v1/drafts"): R,
    ("GET", "/v1/drafts/learning"): V,
    ("DELETE", "/v1/drafts/learning"): A,
    ("POST", "/v1/suggestions/{suggestion_id}/regenerate"): R,
    ("GET", "/v1/suggestions"): V,
    ("GET", "/v1/suggestions/insights"): V,
    ("GET", "/v1/activity"): V,
    ("GET", "/v1/inbox"): V,
    ("POST", "/v1/inbox/read"): V,  # one's own lines only
    ("GET", "/v1/suggestions/{suggestion_id}/subscription"): V,
    ("PUT", "/v1/suggestions/{suggestion_id}/subscription"): V,  # one's own choice only
    ("GET", "/v1/backlog/{item_id}/subscription"): V,
    ("PUT", "/v1/backlog/{item_id}/subscription"): V,  # one's own choice only
    ("GET", "/v1/suggestions/{suggestion_id}"): V,
    ("GET", "/v1/suggestions/{suggestion_id}/history"): V,
    ("POST", "/v1/suggestions/{suggestion_id}/undo"): R,
    ("POST", "/v1/suggestions/{suggestion_id}/assign"): R,
    ("GET", "/v1/suggestions/{suggestion_id}/comments"): V,
    ("POST", "/v1/suggestions/{suggestion_id}/comments"): R,
    ("PATCH", "/v1/suggestions/{suggestion_id}/comments/{comment_id}"): R,
    ("DELETE", "/v1/suggestions/{suggestion_id}/comments/{comment_id}"): R,
    ("GET", "/v1/views"): V,
    ("POST", "/v1/views"): R,
    ("DELETE", "/v1/views/{view_id}"): R,
    ("GET", "/v1/backlog/{item_id}/comments"): V,
    ("POST", "/v1/backlog/{item_id}/comments"): R,
    ("PATCH", "/v1/backlog/{item_id}/comments/{comment_id}"): R,
    ("DELETE", "/v1/backlog/{item_id}/comments/{comment_id}"): R,
    ("POST", "/v1/suggestions/accept"): R,
    ("POST", "/v1/suggestions/reject"): R,
    ("POST", "/v1/suggestions/{suggestion_id}/accept"): R,
    ("POST", "/v1/suggestions/{suggestion_id}/reject"): R,
    ("POST", "/v1/backlog/{item_id}/quality"): R,
    ("POST", "/v1/backlog/{item_id}/rewrite"): R,
    ("POST", "/v1/backlog/{item_id}/split"): R,
    ("POST", "/v1/backlog/{item_id}/estimate"): R,
    ("POST", "/v1/backlog/{item_id}/labels"): R,
    ("POST", "/v1/refine"): R,
    ("GET", "/v1/refine/jobs/{job_id}"): V,
    ("GET", "/v1/refine/queue"): V,
    ("GET", "/v1/refine/readiness"): V,
    ("PUT", "/v1/refine/readiness"): A,
    ("POST", "/v1/conversations"): R,
    ("POST", "/v1/backlog/{item_id}/discussion"): R,
    ("GET", "/v1/conversations/jobs/{job_id}"): V,
    ("GET", "/v1/conversations/{conversation_id}"): V,
    ("GET", "/v1/backlog/labels"): V,
    ("GET", "/v1/backlog"): V,
    ("GET", "/v1/backlog/export"): V,
    ("GET", "/v1/backlog/{item_id}"): V,
    ("PATCH", "/v1/backlog/{item_id}"): R,
    ("POST", "/v1/backlog/edit"): R,
    ("GET", "/v1/backlog/{item_id}/history"): V,
    ("POST", "/v1/backlog/items"): R,
    ("POST", "/v1/backlog/import"): A,
    ("POST", "/v1/backlog/import/jobs"): A,
    ("GET", "/v1/backlog/import/jobs/{job_id}"): V,
    ("GET", "/v1/backlog/{item_id}/duplicates"): V,
    ("POST", "/v1/duplicates/search"): V,
    ("GET", "/v1/duplicates/learning"): V,
    ("DELETE", "/v1/duplicates/learning"): A,
    ("GET", "/v1/estimates/learning"): V,
    ("DELETE", "/v1/estimates/learning"): A,
    ("POST", "/v1/ingest"): R,
    ("GET", "/v1/jobs/{job_id}"): V,
    ("POST", "/v1/jobs/{job_id}/cancel"): R,
    ("GET", "/v1/ingest/jobs/{job_id}"): V,
    ("GET", "/v1/ingest/jobs/{job_id}/themes"): V,
    ("GET", "/v1/ingest/jobs/{job_id}/unthemed"): V,
    ("GET", "/v1/jobs"): V,
    ("GET", "/v1/ingest/jobs"): V,
    ("PUT", "/v1/strategy"): A,
    ("GET", "/v1/strategy"): V,
    ("POST", "/v1/prioritize"): R,
    ("GET", "/v1/prioritize/jobs/{job_id}"): V,
    ("PATCH", "/v1/backlog/{item_id}/priority"): R,
    ("POST", "/v1/backlog/rank"): R,
    ("POST", "/v1/sprints/plan"): R,
    ("GET", "/metrics"): V,
    ("GET", "/v1/webhooks"): A,  # their URLs can be secrets (a chat's incoming webhook)
    ("POST", "/v1/webhooks"): A,
    ("DELETE", "/v1/webhooks/{webhook_id}"): A,
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): A,
    ("POST", "/v1/webhooks/{webhook_id}/ping"): A,
    ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): A,
    ("GET", "/v1/tracker"): V,  # never the token
    ("PUT", "/v1/tracker"): A,
    ("DELETE", "/v1/tracker"): A,
    ("POST", "/v1/tracker/check"): A,
    ("POST", "/v1/tracker/push"): R,  # writes to the team's tracker, as exporting and importing by hand would
    ("POST", "/v1/tracker/pull"): A,  # an import of the tracker's issues, as a file import is
    ("GET", "/v1/tracker/jobs/{job_id}"): V,
    ("GET", "/v1/tracker/pulls/{job_id}"): V,
    ("GET", "/v1/tracker/pending"): V,
    ("GET", "/v1/tracker/hook"): A,  # holds the webhook secret
    ("PUT", "/v1/tracker/hook"): A,
    ("POST", "/v1/tracker/hook"): PUBLIC,  # the tracker's webhook: taken only with this project's signature
}

bearer = HTTPBearer(auto_error=False, description="An API token: `refinery token create NAME` prints one.")
cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The desk's login (POST /v1/auth/login).")


def rule(request: Request) -> Role | None:
    route = request.scope.get("route")
    key = (request.method, route.path if isinstance(route, APIRoute) else request.url.path)
    if key not in ACCESS:
        raise HTTPException(403, f"{key[0]} {key[1]} has no access rule, so it is refused (a bug: please report it)")
    return ACCESS[key]


def identify(request: Request, session: Session, token: str | None, session_secret: str | None) -> Principal | None:
    """The principal behind a bearer token or the session cookie (checking the CSRF token of a cookie on a
    state-changing request); None when neither is given. 401 for a token or cookie that is not (or no longer)
    valid."""
    if token:
        principal = service.authenticate(session, token, CredentialKind.token)
        if principal is None:
            raise HTTPException(401, "the API token is not valid: it is unknown, expired or revoked", _challenge())
        return principal
    if session_secret:
        principal = service.authenticate(session, session_secret, CredentialKind.session)
        if principal is None:
            raise HTTPException(401, "the desk session has ended or is not valid here: sign in again", _challenge())
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent, service.csrf_token(session_secret)):
                raise HTTPException(403, f"a state-changing request with the session cookie needs {CSRF_HEADER}")
        return principal
    return None


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": "Bearer"}


ProjectKey = Annotated[
    str | None,
    Query(
        min_length=1, max_length=40, pattern=scope.KEY_PATTERN,
        description="The project to act on, by key (`GET /v1/projects`); the default project when left out.",
    ),
]  # fmt: skip


async def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session_secret: Annotated[str | None, Depends(cookie)],
    project: ProjectKey = None,
) -> None:
    """Refuse a request its caller may not make in the project it names; record who the caller is
    (`request.state.principal`) and make that project the current one for the rest of the request (the database
    work runs in a worker thread; the project is set here, in the request's own context, so the route sees it)."""
    token = credentials.credentials if credentials else None
    principal, project_id = await run_in_threadpool(_check, request, token, session_secret, project)
    request.state.principal = principal
    request.state.user = principal.name if principal else None
    scope.set_project(project_id)


def _check(
    request: Request, token: str | None, session_secret: str | None, key: str | None
) -> tuple[Principal | None, int]:
    """Who is asking and which project they act on, in one transaction (a token's last use is recorded in it)."""
    with request.app.state.runtime.db.session() as session:
        found = scope.find_project(session, key)
        project_id = found.id if found else None
        if not service.auth_enabled(session):
            if project_id is None:
                raise HTTPException(404, f"there is no project {key!r}: `GET /v1/projects` lists them")
            return None, project_id
        need = rule(request)
        with scope.in_project(project_id or scope.EVERY):  # the caller's role is their role in that project
            if need is PUBLIC:  # a stale cookie or token must not keep anyone from the login
                with contextlib.suppress(HTTPException):
                    return identify(request, session, token, session_secret), project_id or scope.DEFAULT_PROJECT_ID
                return None, project_id or scope.DEFAULT_PROJECT_ID
            principal = identify(request, session, token, session_secret)
    if principal is None:
        raise HTTPException(
            401, "sign in: send `Authorization: Bearer <token>` (`refinery token create NAME`)", _challenge()
        )
    if project_id is None or (need != SIGNED_IN and principal.role is None):  # the same for both: ids do not leak
        raise HTTPException(404, f"there is no project {key or DEFAULT_PROJECT!r} that you are a member of")
    if need != SIGNED_IN and principal.role.rank < need.rank:
        raise HTTPException(403, f"this needs the {need} role; {principal.name} is a {principal.role} here")
    return principal, project_id


def current(request: Request) -> Principal | None:
    """The authenticated caller; None while accounts are off."""
    return getattr(request.state, "principal", None)


PrincipalDep = Annotated[Principal | None, Depends(current)]


def anyones(request: Request) -> bool:
    """Whether the caller may delete what anyone wrote (a comment): an admin; everyone while accounts are off."""
    principal = current(request)
    return principal is None or principal.role == Role.admin


AnyonesDep = Annotated[bool, Depends(anyones)]
