"""`refinery inbox`, `refinery inbox read`: your inbox in the project, from a terminal."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from service.core.cli import console, fail, open_runtime, refusals

inbox_app = typer.Typer(
    help="Your inbox: mentions, suggestions given to you, comments and decisions on them.", invoke_without_command=True
)
As = Annotated[str | None, typer.Option("--as", help="Whose inbox (default: your login name).")]


@inbox_app.callback()
def inbox(
    context: typer.Context,
    unread: Annotated[bool, typer.Option("--unread", help="Only lines not yet read.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    person: As = None,
) -> None:
    """What others did that concerns you, newest first; unread lines are marked `*`."""
    if context.invoked_subcommand is not None:
        return
    from service.inbox import service
    from service.inbox.schemas import NotificationPublic

    recipient = person or getpass.getuser()
    with open_runtime().db.session() as session:
        lines = [NotificationPublic.model_validate(n) for n in service.list_inbox(session, recipient, unread, limit)]
        left = service.count_unread(session, recipient)
    if as_json:
        print(json.dumps([line.model_dump(mode="json") for line in lines], indent=2))
        return
    if not lines:
        console.print(f"Nothing {'unread ' if unread else ''}in {recipient}'s inbox.", markup=False)
        return
    for line in lines:
        console.print(
            f"{' ' if line.read else '*'} {line.id:>5} {line.at:%Y-%m-%d %H:%M} {line.text}",
            markup=False,
            soft_wrap=True,
        )
    console.print(f"{left} unread. Mark read: refinery inbox read ID... (or --all)", markup=False, highlight=False)


@inbox_app.command("read")
def inbox_read(
    ids: Annotated[list[int] | None, typer.Argument(help="The lines' ids (see `refinery inbox`).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every line of your inbox.")] = False,
    again: Annotated[bool, typer.Option("--unread", help="Mark them unread again.")] = False,
    person: As = None,
) -> None:
    """Mark lines of your inbox read (or unread again)."""
    from service.inbox import service

    if bool(ids) == every:
        raise fail("give the lines' ids, or --all, not both")
    recipient = person or getpass.getuser()
    with refusals(), open_runtime().db.session() as session:
        marked = service.mark(session, recipient, None if every else ids, not again)
        left = service.count_unread(session, recipient)
    console.print(f"Marked {marked} {'unread' if again else 'read'}; {left} unread.", markup=False, highlight=False)


@inbox_app.command("watch")
def inbox_watch(
    number: Annotated[int, typer.Argument(help="The suggestion's id (with --item: the backlog item's).")],
    item: Annotated[bool, typer.Option("--item", help="A backlog item's thread, not a suggestion.")] = False,
    mute: Annotated[
        bool, typer.Option("--mute", help="Mute it instead: its comments and decisions do not reach you.")
    ] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Neither: as its assignment and thread say.")] = False,
    person: As = None,
) -> None:
    """Watch a suggestion (its comments and decisions reach your inbox; mentions and assignments always do), or with
    --item a backlog item's thread (its comments)."""
    from service.core.comments import Thread
    from service.inbox import service

    if mute and reset:
        raise fail("give --mute or --reset, not both")
    thread = Thread(item_id=number) if item else Thread(number)
    with refusals(), open_runtime().db.session() as session:
        following, why = service.subscribe(session, person or getpass.getuser(), thread, None if reset else not mute)
    said = "follows" if following else "does not follow"
    console.print(f"Your inbox {said} {'item ' if item else ''}#{number} ({why}).", markup=False, highlight=False)


@inbox_app.command("mail")
def inbox_mail(
    test: Annotated[
        str | None, typer.Option("--test", metavar="ADDRESS", help="Only send one test message to ADDRESS.")
    ] = None,
) -> None:
    """Mail the inbox lines due now (`refinery serve` does this every 30 s while REFINERY_SMTP_HOST is set), or check
    the SMTP settings with a test message."""
    from service.core.settings import get_settings
    from service.inbox import mail

    settings = get_settings()
    if test is not None:
        try:
            mail.send_test(settings, test)
        except mail.MailError as exc:
            raise fail(str(exc)) from exc
        console.print(f"Sent a test message to {test} through {settings.smtp_host}.")
        return
    if not settings.smtp_host:
        raise fail(mail.NO_SERVER)
    done = mail.mail_due(open_runtime().db, settings)
    if done.error:
        raise fail(f"mailed {done.sent} lines, then: {done.error}")
    console.print(f"Mailed {done.sent} line{'s' * (done.sent != 1)}.")
