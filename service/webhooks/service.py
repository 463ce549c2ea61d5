"""Webhooks of the current project: add, list (with how their deliveries went), remove, test, deliver again."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.core.enums import DeliveryStatus, WebhookEvent
from service.core.errors import NotFound
from service.core.scope import this_project
from service.core.tables import Webhook, WebhookDelivery, utcnow


def add_webhook(session: Session, url: str, events: list[str], secret: str | None, created_by: str | None) -> Webhook:
    hook = Webhook(url=url, events=events, secret=secret or secrets.token_urlsafe(32), created_by=created_by)
    session.add(hook)
    session.flush()
    return hook


def get_webhook(session: Session, webhook_id: int) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"no webhook with id {webhook_id} (GET /v1/webhooks lists them)")
    return hook


def list_webhooks(session: Session) -> list[tuple[Webhook, dict[str, int], WebhookDelivery | None]]:
    """Every webhook, oldest first, with its deliveries counted by status and its latest delivery."""
    hooks = session.scalars(select(Webhook).order_by(Webhook.id)).all()
    counted: dict[int, dict[str, int]] = {hook.id: {s.value: 0 for s in DeliveryStatus} for hook in hooks}
    rows = session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count()).group_by(
            WebhookDelivery.webhook_id, WebhookDelivery.status
        )
    )
    for webhook_id, status, n in rows:
        counted.setdefault(webhook_id, {})[status] = n
    return [(hook, counted[hook.id], latest(session, hook.id)) for hook in hooks]


def latest(session: Session, webhook_id: int) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    return session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(1)).first()


def remove_webhook(session: Session, webhook_id: int) -> None:
    """The webhook and its deliveries (those not yet sent are not sent)."""
    get_webhook(session, webhook_id)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
    session.execute(delete(Webhook).where(Webhook.id == webhook_id))


def deliveries(session: Session, webhook_id: int, limit: int, offset: int = 0) -> list[WebhookDelivery]:
    """A webhook's deliveries, newest first."""
    get_webhook(session, webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    return list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset)))


def queue_ping(session: Session, webhook_id: int, actor: str | None) -> WebhookDelivery:
    """A `ping` delivery to the webhook, to be sent now (once, not retried)."""
    hook = get_webhook(session, webhook_id)
    project = this_project(session)
    body: dict[str, Any] = {
        "event": WebhookEvent.ping.value,
        "at": utcnow().isoformat(),
        "project": project.key if project else None,
        "actor": actor,
        "text": f"Refinery: this webhook works (sent by {actor or 'someone'} to test it)",
        "webhook": {"id": hook.id, "events": hook.events},
    }
    delivery = WebhookDelivery(webhook_id=hook.id, event=WebhookEvent.ping, body=body)
    session.add(delivery)
    session.flush()
    return delivery


def redeliver(session: Session, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again (a failed one, or a delivered one the receiver lost), with a fresh set of attempts."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != get_webhook(session, webhook_id).id:
        raise NotFound(f"webhook {webhook_id} has no delivery {delivery_id}")
    delivery.status, delivery.attempts, delivery.next_attempt_at = DeliveryStatus.pending, 0, utcnow()
    delivery.error, delivery.status_code, delivery.delivered_at = None, None, None
    return delivery
