"""Requests and responses of the webhook routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints, ValidationInfo, field_validator

from service.core.enums import DeliveryStatus, WebhookEvent

EVENTS = [e for e in WebhookEvent if e != WebhookEvent.ping]  # what a webhook can subscribe to
Url = Annotated[AnyHttpUrl, UrlConstraints(max_length=2000, allowed_schemes=["http", "https"])]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="Where each event is POSTed (http or https), e.g. a Slack incoming webhook's URL.")
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(EVENTS), min_length=1, description="The events it is told of (default: all)."
    )
    secret: str | None = Field(
        None, min_length=16, max_length=200, description="The signing key; left out, one is made and shown once."
    )

    @field_validator("events")
    @classmethod
    def _subscribable(cls, events: list[WebhookEvent]) -> list[WebhookEvent]:
        if WebhookEvent.ping in events:
            raise ValueError("ping is not an event to subscribe to: POST /v1/webhooks/{id}/ping sends one")
        return list(dict.fromkeys(events))


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    webhook_id: int
    event: str
    status: DeliveryStatus
    attempts: int
    status_code: int | None = Field(description="The receiver's last answer; null if it gave none.")
    error: str | None = Field(description="Why the last attempt failed.")
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When it is tried next (pending only).")

    @field_validator("next_attempt_at", mode="after")
    @classmethod
    def _only_pending(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return value if info.data.get("status") == DeliveryStatus.pending else None


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    created_by: str | None
    created_at: datetime
    deliveries: dict[str, int] = Field(default_factory=dict, description="How many are pending, delivered, failed.")
    last_delivery: DeliveryPublic | None = None


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing key: shown this once; keep it where the receiver checks signatures.")
