"""Accounts over HTTP: the desk's login, users (admins), and API tokens (each user their own; admins all)."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from service.accounts import service
from service.accounts.access import SESSION_COOKIE, PrincipalDep
from service.accounts.schemas import (
    LoginRequest,
    MailChoice,
    Me,
    PasswordChange,
    PersonPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from service.accounts.service import CredentialKind, LoginRefused
from service.core.deps import RuntimeDep
from service.core.enums import Role
from service.core.errors import Conflict, InvalidInput, NotFound
from service.core.settings import Settings
from service.core.tables import User

router = APIRouter(tags=["accounts"])


@router.get("/v1/auth/me", response_model=Me)
def me(request: Request, runtime: RuntimeDep, principal: PrincipalDep) -> Me:
    """Whether accounts are on and who is asking; with the desk's session, its CSRF token."""
    if principal is None:
        with runtime.db.session() as session:
            return Me(auth=service.auth_enabled(session))
    secret = request.cookies.get(SESSION_COOKIE) if principal.via == CredentialKind.session else None
    with runtime.db.session() as session:
        user = service.get_user(session, principal.name)
    return _me(user, principal.role, secret, runtime.settings)


@router.patch("/v1/auth/me", response_model=Me, responses={409: {}, 422: {}})
def update_me(body: MailChoice, request: Request, runtime: RuntimeDep, principal: PrincipalDep) -> Me:
    """Your own e-mail settings: the address unread inbox lines are mailed to, and whether they are."""
    if principal is None:
        raise Conflict("accounts are off: e-mail goes to users, so create them first (`refinery user add`)")
    with runtime.db.session() as session:
        service.set_mail(session, principal.name, _mail_choice(body))
    return me(request, runtime, principal)


@router.post("/v1/auth/login", response_model=Me, responses={401: {}, 409: {}, 429: {}})
def login(body: LoginRequest, request: Request, response: Response, runtime: RuntimeDep) -> Me | JSONResponse:
    """Sign in to the desk: sets an HttpOnly, SameSite=Strict session cookie."""
    settings = runtime.settings
    with runtime.db.session() as session:
        if not service.auth_enabled(session):
            raise Conflict("accounts are off (there are no users yet): create the first admin with "
                           "`refinery user add NAME --role admin`")  # fmt: skip
        outcome = service.login(
            session, body.name, body.password, settings.session_hours, settings.login_attempts, settings.lockout_minutes
        )
        role = service.role_of(session, outcome[0].id) if isinstance(outcome, tuple) else None
    if isinstance(outcome, LoginRefused):
        if outcome.retry_after_s is None:
            return JSONResponse({"detail": str(outcome)}, status_code=401)
        return JSONResponse(
            {"detail": str(outcome)}, status_code=429, headers={"Retry-After": str(outcome.retry_after_s)}
        )
    return _signed_in(request, response, settings, outcome, role)


def _signed_in(
    request: Request, response: Response, settings: Settings, login: tuple[User, str], role: Role | None
) -> Me:
    """A new desk session: its cookie (HttpOnly, SameSite=Strict), and who is in, with its CSRF token."""
    user, secret = login
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=int(settings.session_hours * 3600), httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return _me(user, role, secret, settings)


def _me(user: User, role: Role | None, secret: str | None, settings: Settings) -> Me:
    """Who is signed in, and their e-mail settings; with a desk session's `secret`, its CSRF token."""
    return Me(
        auth=True, name=user.name, role=role, csrf_token=secret and service.csrf_token(secret), email=user.email,
        email_notifications=user.email_notifications, mail_every=user.mail_every, mail=bool(settings.smtp_host),
    )  # fmt: skip


@router.post("/v1/auth/password", response_model=Me, responses={403: {}, 409: {}, 422: {}, 429: {}})
def change_password(
    body: PasswordChange, request: Request, response: Response, runtime: RuntimeDep, principal: PrincipalDep
) -> Me | JSONResponse:
    """Change your own password, given the one you have now. Your other desk logins end; this one goes on (a new
    session cookie and CSRF token); API tokens are not touched."""
    if principal is None:
        raise Conflict("accounts are off: there is no password to change")
    settings = runtime.settings
    with runtime.db.session() as session:
        checked = service.login(
            session, principal.name, body.current_password, settings.session_hours, settings.login_attempts,
            settings.lockout_minutes,
        )  # fmt: skip
        if not isinstance(checked, LoginRefused):
            service.set_password(session, principal.name, body.password)  # ends every desk login, this one too
            renewed = checked[0], service.new_session(session, checked[0], settings.session_hours)
    if isinstance(checked, LoginRefused):  # its failure count is committed
        status = 403 if checked.retry_after_s is None else 429
        detail = "the current password is wrong" if status == 403 else str(checked)
        headers = {"Retry-After": str(checked.retry_after_s)} if status == 429 else None
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    if principal.via != CredentialKind.session:
        return me(request, runtime, principal)
    return _signed_in(request, response, settings, renewed, principal.role)


@router.post("/v1/auth/logout", status_code=204)
def logout(response: Response, runtime: RuntimeDep, principal: PrincipalDep) -> None:
    """End this desk session (a token is revoked with DELETE /v1/tokens/{id})."""
    if principal is not None and principal.via == CredentialKind.session:
        with runtime.db.session() as session:
            service.logout(session, principal.credential_id)
    response.delete_cookie(SESSION_COOKIE, path="/")


def _public(user, role: Role | None) -> UserPublic:  # noqa: ANN001
    return UserPublic(
        name=user.name, role=role, has_password=bool(user.password_hash), email=user.email,
        email_notifications=user.email_notifications, mail_every=user.mail_every, created_at=user.created_at,
    )  # fmt: skip


@router.get("/v1/people", response_model=list[PersonPublic])
def list_people(
    runtime: RuntimeDep,
    q: Annotated[str, Query(max_length=100, description="The start of a name, any case.")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[PersonPublic]:
    """Whom you can mention (`@name`) or give a suggestion to here, names starting with `q`: the project's members
    with their roles; while accounts are off, the names its comments, assignments and decisions have used."""
    with runtime.db.session() as session:
        return [PersonPublic(name=name, role=role) for name, role in service.people(session, q.strip(), limit)]


@router.get("/v1/users", response_model=list[UserPublic])
def list_users(runtime: RuntimeDep) -> list[UserPublic]:
    """The project's members and their roles."""
    with runtime.db.session() as session:
        return [_public(user, role) for user, role in service.list_users(session, members_only=True)]


@router.post("/v1/users", response_model=UserPublic, status_code=201, responses={409: {}})
def add_user(body: UserCreate, runtime: RuntimeDep) -> UserPublic:
    """Make someone a member of the project with a role, creating their account if it is new. While accounts are
    off, the first user must be an admin (and turns them on)."""
    with runtime.db.session() as session:
        if body.role != Role.admin and not service.auth_enabled(session):
            raise InvalidInput("the first user must be an admin, or nobody could add members later")
        try:
            user = service.get_user(session, body.name)
        except NotFound:
            user = service.add_user(session, body.name, body.role, body.password)
        else:
            if service.role_of(session, user.id) is not None:
                raise Conflict(
                    f"{body.name} is a member of this project already: PUT /v1/users/{body.name} changes the role"
                )
            if body.password is not None or _mail_choice(body):
                raise InvalidInput(
                    f"{body.name} has an account already: only they can change its password or e-mail settings"
                )
            service.set_role(session, body.name, body.role)
            return _public(user, body.role)
        service.set_mail(session, body.name, _mail_choice(body))
        return _public(user, body.role)


@router.put("/v1/users/{name}", response_model=UserPublic, responses={404: {}, 409: {}, 422: {}})
def update_user(name: str, body: UserUpdate, runtime: RuntimeDep, principal: PrincipalDep) -> UserPublic:
    """Change a member's role in the project, or your own password or e-mail settings."""
    with runtime.db.session() as session:
        user = service.get_user(session, name)
        if service.role_of(session, user.id) is None:
            raise NotFound(f"{name} is not a member of this project")
        if body.role is not None:
            if body.role != Role.admin:
                _keep_an_admin(session, name)
            service.set_role(session, name, body.role)
        if (body.password is not None or _mail_choice(body)) and principal is not None and principal.name != name:
            raise InvalidInput(
                "only the user can change their own password or e-mail settings (`refinery user set NAME --password`)"
            )
        if body.password is not None:
            service.set_password(session, name, body.password)
        service.set_mail(session, name, _mail_choice(body))
        return _public(user, service.role_of(session, user.id))


@router.delete("/v1/users/{name}", status_code=204, responses={404: {}, 409: {}})
def remove_user(name: str, runtime: RuntimeDep) -> None:
    """Remove a member from the project (their account and other projects stay)."""
    with runtime.db.session() as session:
        user = service.get_user(session, name)
        if service.role_of(session, user.id) is None:
            raise NotFound(f"{name} is not a member of this project")
        _keep_an_admin(session, name)
        service.remove_member(session, name)


def _mail_choice(body: MailChoice) -> dict[str, object]:
    """The e-mail fields a request gave."""
    return body.model_dump(include=body.model_fields_set & set(MailChoice.model_fields))


def _keep_an_admin(session, name: str) -> None:  # noqa: ANN001
    admins = [user.name for user, role in service.list_users(session) if role == Role.admin]
    if admins == [name]:
        raise Conflict(f"{name} is the only admin: make another user an admin first")


def _token(credential, owner: str) -> TokenPublic:  # noqa: ANN001
    fields = ("id", "name", "created_at", "expires_at", "revoked_at", "last_used_at")
    return TokenPublic(user=owner, **{field: getattr(credential, field) for field in fields})


@router.get("/v1/tokens", response_model=list[TokenPublic])
def list_tokens(runtime: RuntimeDep, principal: PrincipalDep) -> list[TokenPublic]:
    """Your API tokens, never their secrets (`refinery token list` shows everyone's)."""
    with runtime.db.session() as session:
        return [
            _token(credential, owner)
            for credential, owner in service.list_tokens(session, principal.user_id if principal else None)
        ]


@router.post("/v1/tokens", response_model=TokenCreated, status_code=201, responses={409: {}})
def create_token(body: TokenCreate, runtime: RuntimeDep, principal: PrincipalDep) -> TokenCreated:
    """A new API token of yours, shown once."""
    if principal is None:
        raise Conflict("accounts are off: there is nobody to make a token for (`refinery user add NAME --role admin`)")
    with runtime.db.session() as session:
        credential, secret = service.create_token(session, principal.name, body.name, body.expires_days)
        return TokenCreated(**_token(credential, principal.name).model_dump(), token=secret)


@router.delete("/v1/tokens/{token_id}", status_code=204, responses={404: {}})
def revoke_token(token_id: int, runtime: RuntimeDep, principal: PrincipalDep) -> None:
    """Revoke one of your tokens: it stops working at once (`refinery token revoke` revokes anyone's)."""
    with runtime.db.session() as session:
        service.revoke_token(session, token_id, principal)


UNSUBSCRIBE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Refinery e-mail</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto"><p>{said}</p>{button}</body></html>"""
Token = Annotated[str, Query(max_length=100, description="The secret in the mail's link.")]


@router.get("/v1/mail/unsubscribe", response_class=HTMLResponse, responses={404: {}})
def unsubscribe_page(runtime: RuntimeDep, token: Token = "") -> HTMLResponse:
    """The page a mail's "Stop these e-mails" link opens: one button that stops them (opening it changes nothing)."""
    try:
        with runtime.db.session() as session:
            user = service.mail_owner(session, token)
    except NotFound as exc:
        return HTMLResponse(UNSUBSCRIBE_PAGE.format(said=escape(str(exc)), button=""), status_code=404)
    said = f"Stop mailing unread Refinery inbox lines to {escape(user.email or user.name)}?"
    button = '<form method="post"><button type="submit">Stop these e-mails</button></form>'  # to this same address
    return HTMLResponse(UNSUBSCRIBE_PAGE.format(said=said, button=button))


@router.post("/v1/mail/unsubscribe", response_class=HTMLResponse, responses={404: {}})
def unsubscribe(runtime: RuntimeDep, token: Token = "") -> HTMLResponse:
    """Stop a person's mail: a mail client's one-click unsubscribe (RFC 8058: a POST to the List-Unsubscribe link),
    or the page's button. No login: the link's token says whose."""
    try:
        with runtime.db.session() as session:
            user = service.mail_owner(session, token)
            user.email_notifications = False
    except NotFound as exc:
        return HTMLResponse(UNSUBSCRIBE_PAGE.format(said=escape(str(exc)), button=""), status_code=404)
    said = f"No more e-mail to {escape(user.email or user.name)}. Turn it on again in the desk's inbox."
    return HTMLResponse(UNSUBSCRIBE_PAGE.format(said=said, button=""))
