"""Accounts: users with a role per project, API tokens and desk logins. Secrets are shown once and stored as hashes
(passwords with scrypt, random tokens with SHA-256); a wrong password counts towards a lockout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, exists, func, select, union, update
from sqlalchemy.orm import Session

from service.core import scope
from service.core.enums import Role
from service.core.errors import Conflict, InvalidInput, NotFound
from service.core.tables import Comment, Credential, ItemEvent, Membership, Suggestion, User, utcnow

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")  # one address, name@host (the server that sends says more)
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # OWASP's minimum for scrypt
TOKEN_PREFIX = "rfy_"  # tokens are recognisable in logs and secret scanners
MIN_PASSWORD = 8


class CredentialKind(StrEnum):
    token = "token"  # Authorization: Bearer, for scripts
    session = "session"  # the desk's login cookie, with a CSRF token


class LoginRefused(Exception):
    """A wrong name or password (401), or too many failures in a row (429, `retry_after_s`)."""

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Principal:
    """Who a request is from: the authenticated user, their role in the project, and how they proved it."""

    user_id: int
    name: str
    role: Role | None  # None: not a member of the project
    via: CredentialKind
    credential_id: int


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return (
        "scrypt${n}${r}${p}$".format(**SCRYPT) + f"{base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    )


def check_password(password: str, stored: str | None) -> bool:
    if not stored:
        hashlib.scrypt(b"x", salt=b"0" * 16, **SCRYPT)  # the same work as a real check: no timing hint
        return False
    _, n, r, p, salt, key = stored.split("$")
    found = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(found, base64.b64decode(key))


def auth_enabled(session: Session) -> bool:
    """Accounts are on once a user exists."""
    return bool(session.scalar(select(exists().where(User.id.is_not(None)))))


def add_user(session: Session, name: str, role: Role, password: str | None = None) -> User:
    """A new user with `role` in the current project."""
    if not NAME.match(name):
        raise InvalidInput("a user name is 1-100 letters, digits or . _ @ - and starts with a letter or digit")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} exists already")
    user = User(name=name, password_hash=_password_hash(password))
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, project_id=scope.current_project(), role=role))
    return user


def _password_hash(password: str | None) -> str | None:
    if password is None:
        return None
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD} characters")
    return hash_password(password)


def can_decide(session: Session, name: str) -> bool:
    """Whether `name` may decide suggestions in the current project: anyone while accounts are off; once they are on,
    a member with the reviewer role or above."""
    if not auth_enabled(session):
        return True
    user = session.scalar(select(User).where(User.name == name))
    role = role_of(session, user.id) if user is not None else None
    return role is not None and role.rank >= Role.reviewer.rank


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def set_role(session: Session, name: str, role: Role) -> None:
    """Make user `name` a member of the current project with `role` (or change their role there)."""
    user = get_user(session, name)
    project = scope.current_project()
    membership = session.scalar(
        select(Membership).where(Membership.user_id == user.id, Membership.project_id == project)
    )
    if membership is None:
        session.add(Membership(user_id=user.id, project_id=project, role=role))
    else:
        membership.role = role


def remove_member(session: Session, name: str) -> None:
    """End user `name`'s membership of the current project (their account stays)."""
    user = get_user(session, name)
    session.execute(
        delete(Membership).where(Membership.user_id == user.id, Membership.project_id == scope.current_project())
    )


def set_password(session: Session, name: str, password: str) -> None:
    user = get_user(session, name)
    user.password_hash, user.failed_logins, user.locked_until = _password_hash(password), 0, None
    end_credentials(session, user.id, CredentialKind.session)  # other logins end with the old password


def set_mail(session: Session, name: str, choice: dict[str, Any]) -> User:
    """Set user `name`'s e-mail address and whether unread inbox lines are mailed to them, as far as `choice` (the
    fields a request gave: `email`, `email_notifications`, `mail_every`) names them."""
    user = get_user(session, name)
    if "email" in choice:
        address = choice["email"]
        if address is not None and (len(address) > 320 or not EMAIL.match(address)):
            raise InvalidInput(f"{address!r} is not one e-mail address: write it as name@example.com")
        user.email = address
        user.mail_token = user.mail_token or secrets.token_urlsafe(32)  # the unsubscribe link's
    if choice.get("email_notifications") is not None:
        user.email_notifications = choice["email_notifications"]
    if choice.get("mail_every") is not None:
        user.mail_every = choice["mail_every"]
    return user


def mail_owner(session: Session, token: str) -> User:
    """The user whose mail's unsubscribe link has `token`; NotFound for no one's."""
    user = session.scalar(select(User).where(User.mail_token == token)) if token else None
    if user is None:
        raise NotFound("this link is not (or no longer) valid: turn e-mail off in the desk's inbox")
    return user


def role_of(session: Session, user_id: int) -> Role | None:
    """The user's role in the current project; None when they are not a member."""
    role = session.scalar(
        select(Membership.role).where(Membership.user_id == user_id, Membership.project_id == scope.current_project())
    )
    return Role(role) if role else None


def list_users(session: Session, members_only: bool = False) -> list[tuple[User, Role | None]]:
    """Users with their role in the current project (every account, or its members only), in one query."""
    here = (Membership.user_id == User.id) & (Membership.project_id == scope.current_project())
    rows = session.execute(select(User, Membership.role).outerjoin(Membership, here).order_by(User.id))
    return [(user, Role(role) if role else None) for user, role in rows if role or not members_only]


def people(session: Session, prefix: str = "", limit: int = 20) -> list[tuple[str, Role | None]]:
    """Whom a person can mention or give a suggestion to in the current project, by name, those starting with `prefix`
    (any case): its members with their roles once accounts are on; before, the names its comments, assignments,
    decisions and item edits have used (no role: names are not proven)."""
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if auth_enabled(session):
        here = (Membership.user_id == User.id) & (Membership.project_id == scope.current_project())
        rows = session.execute(
            select(User.name, Membership.role).join(Membership, here).where(User.name.ilike(like, escape="\\"))
            .order_by(func.lower(User.name)).limit(limit)
        )  # fmt: skip
        return [(name, Role(role)) for name, role in rows]
    seen = union(
        select(Comment.author.label("name")).where(Comment.from_tracker.is_(False)),  # not the tracker's people
        select(Suggestion.assignee.label("name")),
        select(Suggestion.decided_by.label("name")),
        select(ItemEvent.actor.label("name")),
    ).subquery()
    names = (
        select(seen.c.name)
        .where(seen.c.name.is_not(None), seen.c.name != "", seen.c.name.ilike(like, escape="\\"))
        .order_by(func.lower(seen.c.name))
        .limit(limit)
    )
    return [(name, None) for name in session.scalars(names)]


def remove_user(session: Session, name: str) -> None:
    user = get_user(session, name)
    session.execute(delete(Credential).where(Credential.user_id == user.id))
    session.execute(delete(Membership).where(Membership.user_id == user.id))
    session.delete(user)


def create_token(
    session: Session, name: str, label: str = "", expires_days: float | None = None
) -> tuple[Credential, str]:
    """A new API token for user `name`: the row and the secret, which is shown only now."""
    user = get_user(session, name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    credential = Credential(
        user_id=user.id, kind=CredentialKind.token, name=label[:100], secret_hash=digest(secret), expires_at=expires
    )
    session.add(credential)
    session.flush()
    return credential, secret


def list_tokens(session: Session, user_id: int | None = None) -> list[tuple[Credential, str]]:
    """API tokens (never their secrets) with their owners' names, of one user or all."""
    query = select(Credential, User.name).join(User).where(Credential.kind == CredentialKind.token)
    if user_id is not None:
        query = query.where(Credential.user_id == user_id)
    return [(credential, owner) for credential, owner in session.execute(query.order_by(Credential.id))]


def revoke_token(session: Session, token_id: int, by: Principal | None = None) -> Credential:
    """Revoke a token: any (the CLI, or accounts off) or only `by`'s own (others' are not found)."""
    credential = session.get(Credential, token_id)
    mine = by is None or (credential is not None and credential.user_id == by.user_id)
    if credential is None or credential.kind != CredentialKind.token or not mine:
        raise NotFound(f"no token {token_id}")
    credential.revoked_at = credential.revoked_at or utcnow()
    return credential


def end_credentials(session: Session, user_id: int, kind: CredentialKind) -> None:
    session.execute(
        update(Credential)
        .where(Credential.user_id == user_id, Credential.kind == kind, Credential.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def csrf_token(session_secret: str) -> str:
    """The CSRF token of a desk session, derived from its secret: the desk reads it from GET /v1/auth/me (another
    origin cannot read that reply) and sends it as X-CSRF-Token; nothing more is stored."""
    return hmac.new(session_secret.encode(), b"refinery-csrf", hashlib.sha256).hexdigest()


def login(
    session: Session, name: str, password: str, hours: float, attempts: int, lockout_minutes: float
) -> tuple[User, str] | LoginRefused:
    """Check a password: a desk session for the user, (user, session secret), or why not (returned, not raised, so
    the failure count is committed). After `attempts` failures in a row the user is locked out for
    `lockout_minutes`, a correct password included."""
    user = session.scalar(select(User).where(User.name == name))
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        return LoginRefused(f"too many failed logins for {name!r}: try again in {wait} s", retry_after_s=wait)
    if user is None or not check_password(password, user.password_hash):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= attempts:
                user.failed_logins, user.locked_until = 0, now + timedelta(minutes=lockout_minutes)
        return LoginRefused("wrong user name or password")
    user.failed_logins, user.locked_until = 0, None
    return user, new_session(session, user, hours)


def new_session(session: Session, user: User, hours: float) -> str:
    """A desk session for the user, `hours` long; its secret (the cookie's value)."""
    secret = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(hours=hours)
    session.add(
        Credential(
            user_id=user.id, kind=CredentialKind.session, name="desk", secret_hash=digest(secret), expires_at=expires
        )
    )
    return secret


def logout(session: Session, credential_id: int) -> None:
    session.execute(update(Credential).where(Credential.id == credential_id).values(revoked_at=utcnow()))


def authenticate(session: Session, secret: str, kind: CredentialKind) -> Principal | None:
    """The principal a token or session secret belongs to; None when it is unknown, revoked or expired."""
    row = session.execute(
        select(Credential, User.name)
        .join(User)
        .where(Credential.secret_hash == digest(secret), Credential.kind == kind)
    ).first()
    if row is None:
        return None
    credential, name = row
    now = utcnow()
    if credential.revoked_at is not None or expired(credential, now):
        return None
    if credential.last_used_at is None or now - credential.last_used_at > timedelta(minutes=1):
        credential.last_used_at = now
    return Principal(
        user_id=credential.user_id,
        name=name,
        role=role_of(session, credential.user_id),
        via=kind,
        credential_id=credential.id,
    )


def expired(credential: Credential, now: datetime | None = None) -> bool:
    """The credential's expiry has passed (one without an expiry never expires)."""
    return credential.expires_at is not None and credential.expires_at <= (now or utcnow())
