"""Sending webhook deliveries (written by `service.core.outbox`): each is an HTTP POST of its JSON body, signed with
the webhook's secret (`X-Refinery-Signature: sha256=HMAC`, as GitHub signs), retried after 30 s, 2 min, 10 min and
1 h, then failed. Each webhook's deliveries go out in order, several webhooks at once; a failed attempt makes the
webhook's other deliveries wait as long as it (its receiver is down), without counting an attempt for them. A sender
claims a delivery by a lease on it, so any number of processes send without sending one twice at once; a sender that
dies mid-send leaves it to be sent again after the lease: at least once, and a receiver tells repeats apart by
`X-Refinery-Delivery`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from service.core.db import Database
from service.core.enums import DeliveryStatus, WebhookEvent
from service.core.periodic import Periodic
from service.core.scope import every_project
from service.core.tables import Webhook, WebhookDelivery, utcnow

log = logging.getLogger("refinery.webhooks")
BACKOFF_S = (30, 120, 600, 3600)  # after the 1st to 4th failed attempt
ATTEMPTS = len(BACKOFF_S) + 1
LEASE_S = 60.0  # longer than a send can take (TIMEOUT_S)
TIMEOUT_S = 10.0
PARALLEL = 8  # webhooks sent to at once: a slow or dead receiver holds up only its own deliveries
SIGNATURE = "X-Refinery-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: a receiver computes it over the raw body with the secret and compares."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_due(
    db: Database,
    now: datetime | None = None,
    limit: int = 20,
    client: httpx.Client | None = None,
    seconds: float | None = None,
) -> int:
    """Send up to `limit` deliveries that are due (of every project), starting none after `seconds`; how many were
    attempted."""
    started, now = time.monotonic(), now or utcnow()
    with every_project(), db.session() as session:
        due = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.webhook_id)
            .where(WebhookDelivery.status == DeliveryStatus.pending, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(limit)
        ).all()
    queues: dict[int, list[int]] = {}
    for delivery_id, webhook_id in due:
        queues.setdefault(webhook_id, []).append(delivery_id)

    def in_order(ids: list[int]) -> int:  # one webhook's, oldest first
        attempted = 0
        for delivery_id in ids:
            if seconds is not None and time.monotonic() - started > seconds:
                break
            attempted += attempt(db, delivery_id, now, http)
        return attempted

    if not queues:
        return 0
    with nullcontext(client) if client else httpx.Client(timeout=TIMEOUT_S) as http:
        if len(queues) == 1:
            return in_order(next(iter(queues.values())))
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(queues)), thread_name_prefix="webhook") as pool:
            return sum(pool.map(in_order, queues.values()))


def send_now(db: Database, delivery_id: int) -> WebhookDelivery | None:
    """Send one delivery now, if it is pending (a ping, a redelivery); the delivery as it then stands."""
    with httpx.Client(timeout=TIMEOUT_S) as http:
        attempt(db, delivery_id, utcnow(), http)
    with every_project():
        return db.get(WebhookDelivery, delivery_id)


def attempt(db: Database, delivery_id: int, now: datetime, http: httpx.Client) -> bool:
    """Claim one due delivery and send it; False when another sender has it (or it is not due)."""
    with every_project(), db.session() as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + timedelta(seconds=LEASE_S), attempts=WebhookDelivery.attempts + 1)
        )
        if claimed.rowcount != 1:
            return False
        delivery = session.get(WebhookDelivery, delivery_id)
        hook = session.get(Webhook, delivery.webhook_id) if delivery else None
        if delivery is None or hook is None:
            return False
        url, secret, event, body, attempts = hook.url, hook.secret, delivery.event, delivery.body, delivery.attempts
        webhook_id = hook.id
    status_code, error = send(url, secret, event, delivery_id, body, http)
    values: dict[str, object] = {"status_code": status_code, "error": error}
    if error is None:
        values |= {"status": DeliveryStatus.delivered, "delivered_at": utcnow()}
    elif attempts >= ATTEMPTS or event == WebhookEvent.ping:  # a ping is the admin's test: its answer, once
        values |= {"status": DeliveryStatus.failed}
    else:
        values |= {"next_attempt_at": utcnow() + timedelta(seconds=BACKOFF_S[attempts - 1])}
    with every_project(), db.session() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))
        if error and "next_attempt_at" in values:  # the receiver is down: its other deliveries wait as long
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.webhook_id == webhook_id,
                    WebhookDelivery.status == DeliveryStatus.pending,
                    WebhookDelivery.next_attempt_at < values["next_attempt_at"],
                )
                .values(next_attempt_at=values["next_attempt_at"])
            )
    if error:
        log.warning("webhook delivery %s (%s) to %s, attempt %s: %s", delivery_id, event, url, attempts, error)
    return True


def send(
    url: str, secret: str, event: str, delivery_id: int, body: dict[str, object], http: httpx.Client
) -> tuple[int | None, str | None]:
    """POST the body; the receiver's status code, and why it failed (None: a 2xx answer)."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Refinery-Webhook",
        "X-Refinery-Event": event,
        "X-Refinery-Delivery": str(delivery_id),
        SIGNATURE: sign(secret, raw),
    }
    try:
        answer = http.post(url, content=raw, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc or 'no answer'}"
    if 200 <= answer.status_code < 300:
        return answer.status_code, None
    return answer.status_code, f"the receiver answered {answer.status_code}: {answer.text[:200]}"


def sender(db: Database, interval_s: float = 1.0) -> Periodic:
    """A thread of the API process that sends what is due every `interval_s` seconds."""

    def send(stop: threading.Event) -> None:
        while deliver_due(db) and not stop.is_set():
            pass  # a full batch: there may be more

    return Periodic("refinery-webhooks", interval_s, send)
