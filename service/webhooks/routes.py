"""The webhook routes (admins): /v1/webhooks."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from service.core.deps import ActorDep, RuntimeDep
from service.core.runtime import Runtime
from service.core.schemas import IdPath, Offset, errors
from service.webhooks import delivery, service
from service.webhooks.schemas import DeliveryPublic, WebhookCreate, WebhookCreated, WebhookPublic

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.get("", response_model=list[WebhookPublic])
def list_webhooks(runtime: RuntimeDep) -> list[WebhookPublic]:
    """This project's webhooks, with their deliveries counted by status and the latest one."""
    with runtime.db.session() as session:
        return [
            WebhookPublic.model_validate(hook).model_copy(
                update={"deliveries": counted, "last_delivery": last and DeliveryPublic.model_validate(last)}
            )
            for hook, counted, last in service.list_webhooks(session)
        ]


@router.post("", status_code=201, response_model=WebhookCreated, responses=errors(422))
def add_webhook(body: WebhookCreate, runtime: RuntimeDep, actor: ActorDep) -> WebhookCreated:
    """Tell a URL of this project's events from now on: each is POSTed as JSON (with `text`, one line a chat's incoming
    webhook shows), signed with the secret in `X-Refinery-Signature` (`sha256=` HMAC of the body), and retried after
    30 s, 2 min, 10 min and 1 h. The secret is shown only here."""
    with runtime.db.session() as session:
        hook = service.add_webhook(session, str(body.url), [e.value for e in body.events], body.secret, actor)
        return WebhookCreated.model_validate(hook)


@router.delete("/{webhook_id}", status_code=204, responses=errors(404))
def remove_webhook(webhook_id: IdPath, runtime: RuntimeDep) -> Response:
    """Stop telling the URL; deliveries not yet sent are dropped."""
    with runtime.db.session() as session:
        service.remove_webhook(session, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryPublic], responses=errors(404))
def list_deliveries(
    webhook_id: IdPath, runtime: RuntimeDep, limit: int = Query(50, ge=1, le=500), offset: Offset = 0
) -> list[DeliveryPublic]:
    """The webhook's deliveries, newest first: each event, its status, attempts, the receiver's answer, the error."""
    with runtime.db.session() as session:
        return [DeliveryPublic.model_validate(d) for d in service.deliveries(session, webhook_id, limit, offset)]


def _sent_now(runtime: Runtime, delivery_id: int) -> DeliveryPublic:
    return DeliveryPublic.model_validate(delivery.send_now(runtime.db, delivery_id))


@router.post("/{webhook_id}/ping", response_model=DeliveryPublic, responses=errors(404))
def ping(webhook_id: IdPath, runtime: RuntimeDep, actor: ActorDep) -> DeliveryPublic:
    """Send a `ping` event now and answer how it went (`status`, `status_code`, `error`); it is not retried."""
    with runtime.db.session() as session:
        delivery_id = service.queue_ping(session, webhook_id, actor).id
    return _sent_now(runtime, delivery_id)


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryPublic, responses=errors(404))
def redeliver(webhook_id: IdPath, delivery_id: IdPath, runtime: RuntimeDep) -> DeliveryPublic:
    """Send a delivery again now (a failed one, or one the receiver lost), then retried as a new one would be."""
    with runtime.db.session() as session:
        service.redeliver(session, webhook_id, delivery_id)
    return _sent_now(runtime, delivery_id)
