"""Requests and responses of the account routes: users, tokens, the desk's login."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.accounts.service import EMAIL
from service.core.enums import MailEvery, Role

UserName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=320, pattern=EMAIL.pattern)
]  # one address (name@host): unread inbox lines are mailed there


class MailChoice(BaseModel):
    """A person's e-mail settings; a field left out stays as it is (`email: null` removes the address)."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    email_notifications: bool | None = Field(None, description="Mail unread inbox lines (needs an address).")
    mail_every: MailEvery | None = Field(
        None, description="soon: each after the delay; hourly, daily: at most one message an hour or a day."
    )


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: UserName
    password: Password


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password = Field(description="Your password now: a wrong one counts towards a lockout.")
    password: Password = Field(description="The new one (at least 8 characters).")


class Me(BaseModel):
    """Whether accounts are on, and who the caller is. `csrf_token` goes in X-CSRF-Token with the session cookie."""

    auth: bool
    name: str | None = None
    role: Role | None = None
    csrf_token: str | None = None
    email: str | None = None
    email_notifications: bool | None = None
    mail_every: MailEvery | None = None
    mail: bool = Field(False, description="This server mails unread inbox lines (it has an SMTP server).")


class UserCreate(MailChoice):
    name: UserName
    role: Role
    password: Password | None = Field(None, description="For the desk's login; scripts use tokens.")


class UserUpdate(MailChoice):
    role: Role | None = None
    password: Password | None = None


class PersonPublic(BaseModel):
    name: str
    role: Role | None = Field(description="Their role here; none while accounts are off (names are not proven).")


class UserPublic(BaseModel):
    name: str
    role: Role | None
    has_password: bool
    email: str | None
    email_notifications: bool
    mail_every: MailEvery
    created_at: datetime


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=100)] = Field("", description="What the token is for.")
    expires_days: float | None = Field(None, gt=0, le=3650, description="None: until revoked.")


class TokenPublic(BaseModel):
    id: int
    name: str
    user: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret, shown only now: send it as `Authorization: Bearer <token>`.")
