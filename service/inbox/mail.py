"""E-mail: inbox lines still unread a while after they were written are mailed to their person, one message per person
a round, by a thread of the API process (like webhook deliveries). A line read in the desk before then is never
mailed. Only users with an address and e-mail notifications on get mail (so only while accounts are on), and only
when an SMTP server is set (REFINERY_SMTP_HOST).

A person who chose `hourly` or `daily` (`User.mail_every`) gets at most one message an hour or a day: their lines
wait until that long after their last message, and go together.

A round claims its lines first (`mailed_at`, in one UPDATE that skips lines another process claimed), then sends; lines
it could not send are given back for the next round. A line older than a day (plus the person's period) is not mailed
late, so a server given SMTP settings today does not send its history."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from urllib.parse import quote

from sqlalchemy import and_, or_, select, update

from service.core import scope
from service.core.db import Database
from service.core.enums import MailEvery
from service.core.periodic import Periodic
from service.core.settings import Settings
from service.core.summaries import one_line
from service.core.tables import Notification, Project, User, utcnow

log = logging.getLogger(__name__)

TICK_S = 30.0  # how often the thread looks for lines due
LATEST = timedelta(days=1)  # lines older than this (and a person's period) are not mailed
PERIODS = {MailEvery.soon: timedelta(0), MailEvery.hourly: timedelta(hours=1), MailEvery.daily: timedelta(days=1)}
BATCH = 500  # lines a round claims at most
PORTS = {"starttls": 587, "ssl": 465, "none": 25}
SUBJECT_TEXT = 120
NO_SERVER = "no SMTP server is set: set REFINERY_SMTP_HOST (and as needed its port, security, user and password)"


class MailError(Exception):
    """The SMTP server could not be used; the message says what to check."""


@dataclass
class Digest:
    """One person's lines due in this round, oldest first, with their projects' keys and names."""

    recipient: str
    address: str
    token: str | None = None  # the unsubscribe link's (User.mail_token)
    every: str = MailEvery.soon  # how often they may be mailed (User.mail_every)
    lines: list[tuple[Notification, str, str]] = field(default_factory=list)  # (line, project key, project name)


@dataclass
class Round:
    """What one round of mailing did: how many lines the SMTP server took, and why it stopped short (None: it did
    not)."""

    sent: int = 0
    error: str | None = None


def mail_due(db: Database, settings: Settings, now: datetime | None = None) -> Round:
    """Mail the lines due (unread for `mail_delay_minutes`); lines it could not send are given back for later."""
    now = now or utcnow()
    digests = claim(db, settings, now)
    if not digests:
        return Round()
    done = 0  # digests handed to the server, or refused by it for good
    error = None
    try:
        with connect(settings) as smtp:
            for digest in digests:
                try:
                    smtp.send_message(message(digest, settings))
                except smtplib.SMTPRecipientsRefused as exc:  # this address only: not retried
                    log.warning("the SMTP server refused %s's address %s: %s", digest.recipient, digest.address, exc)
                done += 1
    except (MailError, OSError, smtplib.SMTPException) as exc:
        error = why(exc, settings)
    unsent = [line.id for digest in digests[done:] for line, _, _ in digest.lines]
    with db.session() as session, scope.every_project():
        if unsent:
            session.execute(
                update(Notification).where(Notification.id.in_(unsent)).values(mailed_at=None),
                execution_options={"synchronize_session": False},
            )
        if mailed := [digest.recipient for digest in digests[:done]]:
            session.execute(
                update(User).where(User.name.in_(mailed)).values(last_mailed_at=now),
                execution_options={"synchronize_session": False},
            )
    return Round(sum(len(digest.lines) for digest in digests[:done]), error)


def claim(db: Database, settings: Settings, now: datetime) -> list[Digest]:
    """Mark the lines due as mailed (those no other process claimed first), grouped by person: lines unread for the
    delay, of people whose period since their last message has passed."""
    due = now - timedelta(minutes=settings.mail_delay_minutes)
    waited = [and_(User.mail_every == every, User.last_mailed_at <= now - period) for every, period in PERIODS.items()]
    people = select(User.name, User.mail_every).where(
        User.email.is_not(None), User.email_notifications.is_(True), or_(User.last_mailed_at.is_(None), *waited)
    )
    with db.session() as session, scope.every_project():
        # the people whose message may go now (a row each: up to some thousands, named in the query's IN lists); the
        # lines of those who wait for their hour or day are not read
        often_of: dict[str, str] = {name: often for name, often in session.execute(people)}
        fresh = [
            and_(Notification.recipient.in_(names), Notification.at > now - LATEST - period)
            for period, names in _by_period(often_of).items()
        ]
        if not fresh:
            return []
        query = (
            select(Notification.id)
            .where(
                Notification.read_at.is_(None),
                Notification.mailed_at.is_(None),
                Notification.at <= due,
                Notification.at > now - LATEST - max(PERIODS.values()),  # a range of the index of lines not mailed
                or_(*fresh),
            )
            .order_by(Notification.id)
            .limit(BATCH)
        )
        ids = list(session.scalars(query))
        if not ids:
            return []
        claimed = update(Notification).where(
            Notification.id.in_(ids), Notification.mailed_at.is_(None), Notification.read_at.is_(None)
        )
        mine = set(session.scalars(claimed.values(mailed_at=now).returning(Notification.id)))
        rows = session.execute(
            select(Notification, Project.key, Project.name, User.email, User.mail_token, User.mail_every)
            .join(Project, Project.id == Notification.project_id)
            .join(User, User.name == Notification.recipient)
            .where(Notification.id.in_(mine))
            .order_by(Notification.id)
        )
        digests: dict[str, Digest] = {}
        for line, key, name, address, token, every in rows:
            digest = digests.setdefault(line.recipient, Digest(line.recipient, address, token, every))
            digest.lines.append((line, key, name))
        session.expunge_all()
        return list(digests.values())


def _by_period(often_of: dict[str, str]) -> dict[timedelta, list[str]]:
    """People's names by their period (how long their lines wait, past a day, before they are too old to mail)."""
    names: dict[timedelta, list[str]] = {}
    for name, often in often_of.items():
        names.setdefault(PERIODS[MailEvery(often)], []).append(name)
    return names


def message(digest: Digest, settings: Settings) -> EmailMessage:
    """The e-mail of one person's lines: each with its project and a link to its suggestion or item in the desk."""
    projects = list(dict.fromkeys(name for _, _, name in digest.lines))
    count = len(digest.lines)
    if count == 1:
        subject = one_line(digest.lines[0][0].text, SUBJECT_TEXT)
    else:
        subject = f"{count} unread in {', '.join(projects)}"
    groups = [
        (project if len(projects) > 1 else f"In {project}:",
         [(line.text, desk_link(settings, key, line)) for line, key, name in digest.lines if name == project])
        for project in projects
    ]  # fmt: skip
    stop = unsubscribe_link(settings, digest.token)
    often = {MailEvery.hourly: " at most once an hour", MailEvery.daily: " at most once a day"}.get(digest.every, "")
    why = (
        f"You get this{often} because e-mail notifications are on for {digest.recipient}. Change how often, or turn\n"
        f"them off, in the desk's inbox, or with `refinery user set {digest.recipient} --mail-every daily` or\n"
        "`--no-email-notifications`."
    )
    body = [f"Hello {digest.recipient},", "", "Still unread in your Refinery inbox:", ""]
    for heading, lines in groups:
        body += [heading] + [f"- {text}" + (f"\n  {link}" if link else "") for text, link in lines] + [""]
    body += ["--", why] + ([f"Stop these e-mails: {stop}"] if stop else [])
    mail = EmailMessage()
    mail["Subject"] = f"[Refinery] {subject}"
    mail["From"] = settings.mail_from
    mail["To"] = digest.address
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain="refinery.local")
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: vacation responders do not answer it
    if stop:  # RFC 2369 and 8058: the mail client's own Unsubscribe button, one click (a POST) and done
        mail["List-Unsubscribe"] = f"<{stop}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content("\n".join(body))
    mail.add_alternative(_html(digest.recipient, groups, why, stop), subtype="html")
    return mail


def _html(recipient: str, groups: list[tuple[str, list[tuple[str, str | None]]]], why: str, stop: str | None) -> str:
    """The same message as HTML, for mail clients that show it: each line a link to its page in the desk (all text
    escaped: a line quotes what people wrote)."""

    def line(text: str, link: str | None) -> str:
        return f'<li><a href="{escape(link)}">{escape(text)}</a></li>' if link else f"<li>{escape(text)}</li>"

    parts = [f"<p>Hello {escape(recipient)},</p>", "<p>Still unread in your Refinery inbox:</p>"]
    for heading, lines in groups:
        parts += [f"<p><strong>{escape(heading)}</strong></p>", "<ul>", *(line(t, k) for t, k in lines), "</ul>"]
    footer = escape(why).replace("\n", " ")
    if stop:
        footer += f' <a href="{escape(stop)}">Stop these e-mails</a>.'
    parts.append(f'<hr><p style="color:#666;font-size:smaller">{footer}</p>')
    return f'<!DOCTYPE html><html><body style="font-family:sans-serif">{"".join(parts)}</body></html>\n'


def unsubscribe_link(settings: Settings, token: str | None) -> str | None:
    """Where one click stops a person's mail (`/v1/mail/unsubscribe`; none without REFINERY_DESK_URL)."""
    return _on_desk(settings, f"/v1/mail/unsubscribe?token={quote(token)}") if token else None


def desk_link(settings: Settings, project_key: str, line: Notification) -> str | None:
    """The desk's page of a line's suggestion, or of its backlog item's comments (REFINERY_DESK_URL; none without
    it)."""
    where = f"review/{line.suggestion_id}" if line.suggestion_id is not None else f"backlog/{line.item_id}"
    return _on_desk(settings, f"/?project={quote(project_key)}#{where}")


def _on_desk(settings: Settings, path: str) -> str | None:
    """`path` on the desk as people reach it (REFINERY_DESK_URL); None without it."""
    return f"{settings.desk_url.rstrip('/')}{path}" if settings.desk_url else None


def connect(settings: Settings) -> smtplib.SMTP:
    """A session with the SMTP server, secured and logged in as the settings say."""
    if not settings.smtp_host:
        raise MailError(NO_SERVER)
    port = settings.smtp_port or PORTS[settings.smtp_security]
    context = ssl.create_default_context()  # SSL_CERT_FILE names a private CA's certificate
    if settings.smtp_security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, port, timeout=30, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, port, timeout=30)
    try:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_test(settings: Settings, address: str) -> None:
    """Send one message to `address` with the settings as they are; MailError says what failed."""
    mail = EmailMessage()
    mail["Subject"] = "[Refinery] test message"
    mail["From"], mail["To"], mail["Date"] = settings.mail_from, address, formatdate(localtime=False)
    mail.set_content("Refinery can send mail with these settings. Unread inbox lines will be mailed like this one.")
    try:
        with connect(settings) as smtp:
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(why(exc, settings)) from exc


def why(exc: BaseException, settings: Settings) -> str:
    """What failed, and which setting to check."""
    where = f"{settings.smtp_host}:{settings.smtp_port or PORTS[settings.smtp_security]}"
    if isinstance(exc, MailError):
        return str(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"the SMTP server refused the login ({exc.smtp_code}): check REFINERY_SMTP_USER and REFINERY_SMTP_PASSWORD"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return (
            f"the SMTP server at {where} does not offer {exc}: set REFINERY_SMTP_SECURITY to ssl (or none on a "
            "trusted network), or leave REFINERY_SMTP_USER empty"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS with {where} failed ({exc.reason or exc}): check REFINERY_SMTP_SECURITY and the port "
            "(starttls: 587, ssl: 465); a private CA's certificate goes in SSL_CERT_FILE"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"the SMTP server refused the address: {', '.join(exc.recipients)}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (
            f"the SMTP server refused mail from {exc.sender!r} ({exc.smtp_code} {_said(exc)}): check "
            "REFINERY_MAIL_FROM, and whether the server wants STARTTLS (REFINERY_SMTP_SECURITY) or a login first"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the SMTP server at {where} answered {exc.smtp_code}: {_said(exc)}"
    if isinstance(exc, (socket.gaierror, ConnectionError, TimeoutError, smtplib.SMTPServerDisconnected)):
        return f"could not reach the SMTP server at {where} ({exc}): check REFINERY_SMTP_HOST and REFINERY_SMTP_PORT"
    return f"{type(exc).__name__}: {exc}"


def _said(exc: smtplib.SMTPResponseException) -> str:
    said = exc.smtp_error
    return said.decode(errors="replace") if isinstance(said, bytes) else str(said)


def mailer(db: Database, settings: Settings, interval_s: float | None = None) -> Periodic:
    """A thread of the API process that mails the lines due every `interval_s` seconds (TICK_S)."""
    interval_s = interval_s or TICK_S

    def send(stop: threading.Event) -> None:
        while not stop.is_set():
            done = mail_due(db, settings)
            if done.error:
                log.warning("mailing inbox lines failed; trying again in %s s: %s", interval_s, done.error)
            if done.error or done.sent < BATCH:
                return  # else a full batch: there may be more

    return Periodic("refinery-mail", interval_s, send)
