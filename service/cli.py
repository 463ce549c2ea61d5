"""The `refinery` command line: `serve`, and each feature's commands."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Annotated

import typer

from pipelines.embeddings import EmbeddingsUnavailable
from pipelines.llm import LLMUnavailable
from pipelines.vectorstore import VectorStoreUnavailable
from service.accounts import cli as accounts
from service.backlog import cli as backlog
from service.conversations import cli as conversations
from service.core import migrate_cli as db
from service.core.cli import chosen, errors, fail, opened
from service.drafting import cli as drafting
from service.duplicates import cli as duplicates
from service.inbox import cli as inbox
from service.ingest import cli as ingest
from service.ops import cli as ops
from service.prioritization import cli as prioritization
from service.projects import cli as projects
from service.refinement import cli as refinement
from service.review import cli as review
from service.trackers import cli as trackers
from service.views import cli as views
from service.webhooks import cli as webhooks
from service.worker import cli as worker


class Refinery(typer.Typer):
    """The command line; an index or embedding model that cannot be opened ends any command with one line saying
    why and what to do (exit code 2), not a traceback."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        try:
            return super().__call__(*args, **kwargs)
        except (EmbeddingsUnavailable, VectorStoreUnavailable) as exc:
            errors.print(f"[bold red]error:[/] {exc}")
            raise SystemExit(2) from None
        finally:
            _send_webhooks()


def _send_webhooks(seconds: float = 5.0) -> None:
    """Send the webhook deliveries that are due (those this command's decisions and comments made, and any other),
    for at most `seconds`; what is left is sent by `refinery serve`, or by the next command."""
    if not opened:
        return
    from service.webhooks.delivery import deliver_due

    try:
        deliver_due(opened[-1].db, seconds=seconds)
    except Exception as exc:  # noqa: BLE001 - the command's work is done and stored; this is only its notices
        errors.print(f"[yellow]warning:[/] webhook deliveries were not sent now ({exc}); `refinery serve` sends them")


app = Refinery(help="Refinery: raw ideas in, reviewed user stories out.", no_args_is_help=True)


@app.callback()
def main(
    project: Annotated[
        str | None,
        typer.Option("--project", envvar="REFINERY_PROJECT", help="The project commands act on (default: default)."),
    ] = None,
) -> None:
    """Refinery: raw ideas in, reviewed user stories out."""
    chosen["project"] = project


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    warm: Annotated[bool, typer.Option(help="Load the LLM and the duplicate index in the background at start.")] = True,
) -> None:
    """Start the review desk (at /) and the HTTP API (docs at /docs)."""
    import uvicorn

    from service import duplicates as feature
    from service.accounts.service import auth_enabled
    from service.api import create_app
    from service.core import migrate
    from service.core.settings import get_settings
    from service.ops.logs import configure_logging

    settings = get_settings()
    if host not in WILDCARD_HOSTS and host not in settings.allowed_hosts:
        settings.allowed_hosts.append(host)  # the address it listens on is a name clients use
    try:
        api = create_app(settings)
    except migrate.DatabaseVersionError as exc:
        raise fail(str(exc)) from exc
    runtime = api.state.runtime
    with runtime.db.session() as session:
        accounts_on = auth_enabled(session)
    if not accounts_on:
        if not _loopback(host):
            raise fail(
                f"refusing to listen on {host} while there are no users: anyone who can reach it could accept "
                "suggestions, import and export. Create the first admin with `refinery user add NAME --role admin` "
                "(then `refinery token create NAME` for scripts), or listen on 127.0.0.1."
            )
        errors.print("No users yet: accounts are off, so only this machine can reach the service "
                     "(`refinery user add NAME --role admin` turns them on).")  # fmt: skip
    elif host in WILDCARD_HOSTS:
        errors.print(f"Answering to the host names {', '.join(settings.allowed_hosts)}: set REFINERY_ALLOWED_HOSTS to "
                     "the names clients use.")  # fmt: skip
    configure_logging(settings.log_format, settings.log_level)
    if warm:

        def _warm() -> None:
            try:
                runtime.llm()  # starts the model server; it loads while the duplicate index does
            except LLMUnavailable as exc:
                errors.print(f"[bold red]LLM not available:[/] {exc}")
            if runtime.settings.duplicate_check:
                try:
                    count = feature.detector(runtime).store.count()
                    errors.print(f"Duplicate index ready: {count} documents ({runtime.settings.embedding_model})")
                except (EmbeddingsUnavailable, VectorStoreUnavailable) as exc:
                    errors.print(f"[bold red]Duplicate detection not available:[/] {exc}")
            try:
                runtime.warm_up()
                errors.print(f"LLM ready: {runtime.settings.llm_provider} / {runtime.llm_model}")
            except LLMUnavailable as exc:
                errors.print(f"[bold red]LLM not available:[/] {exc}")

        threading.Thread(target=_warm, daemon=True, name="llm-warm-up").start()
    errors.print(f"Review desk: http://{host}:{port}/   API docs: http://{host}:{port}/docs")
    uvicorn.run(api, host=host, port=port, log_config=None, access_log=False)  # our handler; a line per request


WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command(
    "eval",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def run_eval(context: typer.Context) -> None:
    """Run an eval suite: the same as `python -m evals ...` (the eval harness is its own entry point)."""
    raise typer.Exit(subprocess.call([sys.executable, "-m", "evals", *context.args]))


app.command()(drafting.draft)
app.add_typer(review.review_app, name="review")
app.command()(review.activity)
app.add_typer(inbox.inbox_app, name="inbox")
app.add_typer(backlog.backlog_app, name="backlog")
app.command("export")(backlog.export)
app.command("import")(backlog.import_)
app.command()(duplicates.duplicates)
app.command()(duplicates.reindex)
app.command()(ingest.ingest)
app.command()(prioritization.prioritize)
app.command()(prioritization.rank)
app.add_typer(prioritization.strategy_app, name="strategy")
app.command()(refinement.refine)
app.command()(refinement.readiness)
app.command()(conversations.conversation)
app.add_typer(worker.job_app, name="job")
app.command("worker")(worker.worker)
app.command()(ops.backup)
app.command()(ops.restore)
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.token_app, name="token")
app.add_typer(projects.project_app, name="project")
app.add_typer(webhooks.webhook_app, name="webhook")
app.add_typer(views.view_app, name="view")
app.add_typer(trackers.tracker_app, name="tracker")
app.add_typer(db.db_app, name="db")

if __name__ == "__main__":
    app()
