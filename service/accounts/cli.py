"""`refinery user add|list|set|remove` and `refinery token create|list|revoke`: accounts from the shell of the
machine that holds the database (how the first admin is made)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from service.core.cli import console, errors, fail, open_runtime, refusals
from service.core.enums import MailEvery, Role

user_app = typer.Typer(help="Users and their roles (the first user turns accounts on).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts: `Authorization: Bearer <token>`.", no_args_is_help=True)

PASSWORD_ENV = "REFINERY_PASSWORD"


def _password(ask: bool) -> str | None:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True) if ask else None


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Letters, digits and . _ @ -")],
    role: Annotated[
        Role,
        typer.Option(
            help="viewer reads; reviewer drafts, uploads, accepts and rejects; admin also "
            "manages members, strategy and imports."
        ),
    ] = Role.reviewer,  # fmt: skip
    password: Annotated[
        bool,
        typer.Option(
            "--password/--no-password",
            help=f"Ask for a password for the desk's login (or read {PASSWORD_ENV}); scripts use tokens.",
        ),
    ] = True,  # fmt: skip
    email: Annotated[str | None, typer.Option(help="Where their unread inbox lines are mailed.")] = None,
) -> None:
    """Add a user. The first user must be an admin: from then on every request must sign in."""
    from sqlalchemy import select

    from service.accounts import service
    from service.core.tables import User

    with refusals(), open_runtime().db.session() as session:
        first = not service.auth_enabled(session)
        if first and role != Role.admin:
            raise fail("the first user must be an admin (--role admin), or nobody could add members later")
        existing = session.scalar(select(User).where(User.name == name))
        if existing is not None:  # another project's member: a member of this one too
            if service.role_of(session, existing.id) is not None:
                raise fail(f"{name} is a member of this project already: `refinery user set {name} --role ...`")
            service.set_role(session, name, role)
        else:
            service.add_user(session, name, role, _password(password))
        if email is not None:
            service.set_mail(session, name, {"email": email})
    console.print(f"Added {name} ({role}).")
    if first:
        errors.print(
            "Accounts are now on: every request must sign in. Make a token for scripts with "
            f"`refinery token create {name}`; the desk asks for the password."
        )


@user_app.command("list")
def user_list() -> None:
    """List users and their roles."""
    from service.accounts import service

    with open_runtime().db.session() as session:
        users = service.list_users(session)
        table = Table("name", "role", "password", "e-mail", "created", title=f"Users ({len(users)})")
        for user, role in users:
            often = "" if user.mail_every == MailEvery.soon else f" ({user.mail_every})"
            mail = f"{user.email}{often if user.email_notifications else ' (off)'}" if user.email else "-"
            table.add_row(
                user.name, str(role or "-"), "yes" if user.password_hash else "no", mail, f"{user.created_at:%Y-%m-%d}"
            )
    console.print(table)


@user_app.command("set")
def user_set(
    name: str,
    role: Annotated[Role | None, typer.Option(help="A new role.")] = None,
    password: Annotated[bool, typer.Option("--password", help="Set a new password (ends their desk logins).")] = False,
    email: Annotated[str | None, typer.Option(help="Where their unread inbox lines are mailed ('': none).")] = None,
    email_notifications: Annotated[
        bool | None, typer.Option("--email-notifications/--no-email-notifications", help="Mail unread inbox lines.")
    ] = None,
    mail_every: Annotated[
        MailEvery | None,
        typer.Option(help="soon: each after the delay; hourly, daily: at most one message an hour, a day."),
    ] = None,
) -> None:
    """Change a user's role, password or e-mail settings."""
    from service.accounts import service

    with refusals(), open_runtime().db.session() as session:
        if role is not None:
            service.set_role(session, name, role)
        if password:
            service.set_password(session, name, _password(True) or "")
        choice = {} if email is None else {"email": email.strip() or None}
        service.set_mail(session, name, choice | {"email_notifications": email_notifications, "mail_every": mail_every})
    console.print(f"Updated {name}.")


@user_app.command("remove")
def user_remove(name: str) -> None:
    """Remove a user; their tokens and logins stop working."""
    from service.accounts import service

    with refusals(), open_runtime().db.session() as session:
        service.remove_user(session, name)
    console.print(f"Removed {name}.")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="Whose token it is.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_days: Annotated[float | None, typer.Option(min=0.001, help="Expire after this many days.")] = None,
) -> None:
    """Create an API token and print it (only now: it is stored hashed)."""
    from service.accounts import service

    with refusals(), open_runtime().db.session() as session:
        credential, secret = service.create_token(session, user, name, expires_days)
    errors.print(
        f"Token {credential.id} for {user}; send it as `Authorization: Bearer <token>`. It is not shown again:"
    )
    print(secret)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    from service.accounts import service

    with open_runtime().db.session() as session:
        tokens = service.list_tokens(session)
    table = Table("id", "user", "name", "created", "expires", "revoked", "last used", title=f"Tokens ({len(tokens)})")
    for credential, owner in tokens:
        when = [credential.created_at, credential.expires_at, credential.revoked_at, credential.last_used_at]
        table.add_row(str(credential.id), owner, credential.name, *(f"{t:%Y-%m-%d %H:%M}" if t else "-" for t in when))
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    from service.accounts import service

    with refusals(), open_runtime().db.session() as session:
        service.revoke_token(session, token_id)
    console.print(f"Revoked token {token_id}.")
