"""`refinery webhook add|list|remove|deliveries|ping|redeliver`: the project's webhooks, as admins see them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from service.core.cli import console, fail, open_runtime, refusals

webhook_app = typer.Typer(
    help="Webhooks: POST this project's review events, signed, to URLs (a chat, a script).", no_args_is_help=True
)
WebhookId = Annotated[int, typer.Argument(help="The webhook's id (see `refinery webhook list`).")]


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="Where each event is POSTed (http or https).")],
    event: Annotated[
        list[str] | None, typer.Option("--event", "-e", help="An event to send (repeat); default: all of them.")
    ] = None,
    secret: Annotated[str | None, typer.Option(help="The signing key (16+ characters); default: one is made.")] = None,
) -> None:
    """Tell a URL of this project's events from now on; prints the signing secret (shown only now)."""
    import getpass

    from pydantic import ValidationError

    from pipelines.llm import describe_validation_error
    from service.webhooks import service
    from service.webhooks.schemas import WebhookCreate

    try:
        wanted = WebhookCreate.model_validate({"url": url, "secret": secret, **({"events": event} if event else {})})
    except ValidationError as exc:
        raise fail(describe_validation_error(exc)) from exc
    with refusals(), open_runtime().db.session() as session:
        hook = service.add_webhook(
            session, str(wanted.url), [e.value for e in wanted.events], wanted.secret, getpass.getuser()
        )
        said = f"Added webhook {hook.id}: {', '.join(hook.events)} to {escape(hook.url)}"
        shown = hook.secret
    console.print(said)
    console.print(f"Signing secret (shown only now): {escape(shown)}")


@webhook_app.command("list")
def webhook_list() -> None:
    """This project's webhooks, with how their deliveries went."""
    from service.webhooks import service

    with open_runtime().db.session() as session:
        rows = [
            (str(hook.id), hook.url, ", ".join(hook.events), counted, last and (last.event, last.status, last.error))
            for hook, counted, last in service.list_webhooks(session)
        ]
    table = Table("id", "url", "events", "delivered", "pending", "failed", "last", title=f"Webhooks ({len(rows)})")
    for hook_id, url, events, counted, last in rows:
        said = f"{last[0]}: {last[1]}" + (f" ({last[2]})" if last and last[2] else "") if last else ""
        table.add_row(
            hook_id, escape(url), events, *(str(counted[k]) for k in ("delivered", "pending", "failed")), escape(said)
        )
    console.print(table)


@webhook_app.command("remove")
def webhook_remove(webhook_id: WebhookId) -> None:
    """Stop telling the URL; deliveries not yet sent are dropped."""
    from service.webhooks import service

    with refusals(), open_runtime().db.session() as session:
        service.remove_webhook(session, webhook_id)
    console.print(f"Removed webhook {webhook_id}.")


@webhook_app.command("deliveries")
def webhook_deliveries(webhook_id: WebhookId, limit: Annotated[int, typer.Option(min=1, max=500)] = 20) -> None:
    """The webhook's latest deliveries: event, status, attempts, the receiver's answer, why one failed."""
    from service.webhooks import service

    with refusals(), open_runtime().db.session() as session:
        rows = [
            (
                str(d.id),
                d.event,
                d.status,
                str(d.attempts),
                str(d.status_code or ""),
                d.error or "",
                f"{d.created_at:%F %T}",
            )
            for d in service.deliveries(session, webhook_id, limit)
        ]
    table = Table("id", "event", "status", "attempts", "answer", "error", "at", title=f"Deliveries ({len(rows)})")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)


def _sent(runtime: object, delivery_id: int) -> None:
    from service.core.enums import DeliveryStatus
    from service.webhooks import delivery

    sent = delivery.send_now(runtime.db, delivery_id)
    if sent.status != DeliveryStatus.delivered:
        raise fail(f"delivery {delivery_id} was not delivered ({sent.status}): {sent.error}")
    console.print(f"Delivered {delivery_id} ({sent.event}): the receiver answered {sent.status_code}.")


@webhook_app.command("ping")
def webhook_ping(webhook_id: WebhookId) -> None:
    """Send a `ping` event now and say how the receiver answered (exit 2 if it did not take it)."""
    import getpass

    from service.webhooks import service

    runtime = open_runtime()
    with refusals(), runtime.db.session() as session:
        delivery_id = service.queue_ping(session, webhook_id, getpass.getuser()).id
    _sent(runtime, delivery_id)


@webhook_app.command("redeliver")
def webhook_redeliver(
    webhook_id: WebhookId, delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")]
) -> None:
    """Send a delivery again now (a failed one, or one the receiver lost)."""
    from service.webhooks import service

    runtime = open_runtime()
    with refusals(), runtime.db.session() as session:
        service.redeliver(session, webhook_id, delivery_id)
    _sent(runtime, delivery_id)
