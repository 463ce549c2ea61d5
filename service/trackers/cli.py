"""`refinery tracker set|show|check|remove|push`: the project's Jira, GitHub or Linear connection, and sending items
there."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from service.core.cli import console, errors, fail, follow_job, open_runtime, refusals
from service.core.enums import JiraEdition, TrackerKind

tracker_app = typer.Typer(
    help="Send backlog items to Jira Cloud, GitHub issues or Linear: created there, or updated when changed here.",
    no_args_is_help=True,
)
TOKEN_ENV = {
    TrackerKind.jira: "JIRA_API_TOKEN",
    TrackerKind.github: "GITHUB_TOKEN",
    TrackerKind.linear: "LINEAR_API_KEY",
}


@tracker_app.command("set")
def tracker_set(
    kind: Annotated[TrackerKind, typer.Argument(help="jira (Jira Cloud), github (GitHub issues) or linear.")],
    url: Annotated[
        str | None, typer.Option(help="Jira: the site (https://acme.atlassian.net). GitHub Enterprise: its API root.")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Jira: the project key (SHOP).")] = None,
    repo: Annotated[str | None, typer.Option(help="GitHub: owner/repo.")] = None,
    team: Annotated[str | None, typer.Option(help="Linear: the team's key (ENG).")] = None,
    user: Annotated[str | None, typer.Option(help="Jira: the account's email.")] = None,
    points_field: Annotated[
        str | None, typer.Option(help="Jira: the story points field's id (default customfield_10016).")
    ] = None,
    edition: Annotated[
        JiraEdition, typer.Option(help="Jira: cloud, or data_center (a personal access token without --user).")
    ] = JiraEdition.cloud,
    pull_every: Annotated[
        int | None, typer.Option(help="Pull the tracker's issues every this many minutes (5-1440); unset: when asked.")
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            help="The environment variable holding the token (default JIRA_API_TOKEN or GITHUB_TOKEN); "
            "unset, the token is asked for, hidden, or the kept one is used."
        ),
    ] = None,  # fmt: skip
) -> None:
    """Connect this project to its tracker (or change the connection); then `refinery tracker check`."""
    import getpass

    from pydantic import ValidationError

    from pipelines.llm import describe_validation_error
    from service.trackers import service
    from service.trackers.schemas import TrackerSet

    target, option = {TrackerKind.jira: (project, "--project SHOP"), TrackerKind.github: (repo, "--repo owner/repo"),
                      TrackerKind.linear: (team, "--team ENG")}[kind]  # fmt: skip
    if not target:
        raise fail(f"{option} is needed for {kind}")
    runtime = open_runtime()
    with runtime.db.session() as session:
        kept = service.get_connection(session)
        keeps = kept is not None and kept.kind == kind
    token = os.environ.get(token_env or TOKEN_ENV[kind]) or None
    if token is None and not keeps:
        token = typer.prompt(f"{kind} token", hide_input=True)
    body = {"kind": kind, "url": url, "target": target, "user": user, "token": token}
    body |= {"story_points_field": points_field, "pull_every_minutes": pull_every}
    body["edition"] = edition if kind == TrackerKind.jira else None
    try:
        wanted = TrackerSet.model_validate(body)
    except ValidationError as exc:
        raise fail(describe_validation_error(exc)) from exc
    with refusals(), runtime.db.session() as session:
        said = service.describe(service.set_connection(session, wanted, getpass.getuser()))
    console.print(f"This project sends its items to {escape(said)}. Try it: refinery tracker check")


@tracker_app.command("show")
def tracker_show() -> None:
    """The project's tracker (never its token)."""
    from service.trackers import service

    with open_runtime().db.session() as session:
        row = service.get_connection(session)
        if row is None:
            raise fail(service.NOT_CONNECTED)
        shown = service.public(row, session)
        said = service.describe(row)
    console.print(escape(said) + (f" as {escape(shown.user)}" if shown.user else ""))
    when = f"{shown.updated_at:%Y-%m-%d %H:%M}"
    issues = f"issues: {escape(shown.browse_url)}; " if shown.browse_url else ""
    every = f"pulled every {shown.pull_every_minutes} minutes; " if shown.pull_every_minutes else ""
    console.print(f"{issues}{every}set by {shown.updated_by or '?'} at {when}")
    if shown.last_pull:
        console.print(f"last pull: {escape(shown.last_pull)}")


@tracker_app.command("hook")
def tracker_hook(
    url: Annotated[
        str, typer.Option(help="This server's address as the tracker reaches it (a public one, not localhost).")
    ] = "http://127.0.0.1:8000",
    secret: Annotated[str | None, typer.Option(help="Set this secret (Linear shows its own signing secret).")] = None,
    new_secret: Annotated[bool, typer.Option("--new-secret", help="Replace the secret with a new random one.")] = False,
) -> None:
    """Where the tracker sends its webhooks so its changes show here at once, with the secret to sign them (keep
    it private), which events to pick there, and the last webhook heard."""
    from service.trackers import service
    from service.trackers.schemas import HookSecret

    try:
        wanted = HookSecret(secret=secret).secret
    except ValueError as exc:
        raise fail(f"--secret: {exc}") from exc
    with refusals(), open_runtime().db.session() as session:
        row = service.connection(session)
        if wanted or new_secret:
            row.hook_secret = wanted or service.new_hook_secret()
        setup = service.hook_setup(session, row, url)
    console.print(f"address: {escape(setup.url)}\nsecret: {setup.secret}\n{escape(setup.events)}")
    heard = f"{setup.received_at:%Y-%m-%d %H:%M}: {escape(setup.last or '')}" if setup.received_at else "none yet"
    console.print(f"last webhook heard: {heard}")


@tracker_app.command("check")
def tracker_check() -> None:
    """Call the tracker with the kept token: who it is, and whether the project or repository is there."""
    from service.trackers import service
    from service.trackers.http import TrackerError

    with refusals(), open_runtime().db.session() as session:
        tracker = service.client(service.connection(session))
    try:
        console.print(escape(tracker.check()))
    except TrackerError as exc:
        raise fail(str(exc)) from exc
    finally:
        tracker.close()


@tracker_app.command("remove")
def tracker_remove() -> None:
    """Forget the connection and its token (items sent keep their keys)."""
    from service.trackers import service

    with refusals(), open_runtime().db.session() as session:
        session.delete(service.connection(session))
    console.print("The tracker connection and its token are forgotten.")


@tracker_app.command("push")
def tracker_push(
    item: Annotated[
        list[int] | None,
        typer.Option(
            "--item",
            help="Only these backlog item ids (repeatable); default: every open item, and every "
            "item already in the tracker.",
        ),
    ] = None,  # fmt: skip
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be created, updated and skipped; send nothing.")
    ] = False,
    order: Annotated[
        bool, typer.Option("--order", help="Then put the ranked issues in the backlog's order there (Jira's rank).")
    ] = False,
) -> None:
    """Send items to the tracker: new ones created, ones changed here since updated (progress bar)."""
    import getpass

    from service.trackers import jobs

    if dry_run:
        _preview(item)
        return
    runtime = open_runtime()
    with refusals():
        job = jobs.create_job(runtime, item, getpass.getuser(), order)
    job = follow_job(runtime, job.id, jobs.run_job, jobs.get_job, f"sending {job.total} item(s) to {job.tracker}")
    table = Table("job", "status", "items", "created", "updated", "unchanged", "skipped", "failed")
    table.add_row(*(str(v) for v in (job.id, job.status, job.total, job.created, job.updated, job.unchanged,
                                     job.skipped, job.failed)))  # fmt: skip
    console.print(table)
    if job.comments_sent:
        console.print(f"{job.comments_sent} comment(s) on items posted on their issues")
    for note in job.errors[:20]:
        errors.print(f"[yellow]note:[/] {escape(note)}")
    if job.status != "done" or job.failed:
        raise typer.Exit(code=1)


@tracker_app.command("pull")
def tracker_pull(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what it would add and update.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Read every issue, not only those changed since the last pull.")
    ] = False,
) -> None:
    """Import the tracker's issues, as its export file would be: new ones added, ones changed there updated, fields
    changed here too kept (and listed). It reads the issues changed there since the last pull; every issue with
    --full, the first time, and once a day."""
    from service.backlog.cli import print_imported
    from service.trackers import jobs

    runtime = open_runtime()
    with refusals():
        job = jobs.create_pull(runtime, getpass.getuser(), dry_run, full)
    what = f"the issues changed since {job.since:%Y-%m-%d %H:%M} UTC" if job.since else "every issue"
    print_imported(follow_job(runtime, job.id, jobs.PULL_JOB.run, jobs.get_pull, f"pulling {what} from {job.source}"))


def _preview(item_ids: list[int] | None) -> None:
    """What a push would do: each item it would create, update (with the fields) or skip (with why)."""
    from service.trackers import service

    with refusals(), open_runtime().db.session() as session:
        planned = service.preview(session, item_ids)
        where = service.describe(service.connection(session))
    table = Table("item", "would be", "key", "fields or why", "title", title=f"A push to {where} would:")
    for p in planned:
        if p.outcome != service.Outcome.unchanged:
            table.add_row(f"#{p.item_id}", p.outcome, p.key or "", ", ".join(p.changed) or p.reason or "", p.title[:50])
    console.print(table)
    console.print(", ".join(f"{n} {outcome}" for outcome, n in service.counted(planned).items()) + " (nothing sent)")
