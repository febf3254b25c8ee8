"""The webhooks API's answers, as msgspec Structs (the wire and OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cxloop.webhooks.store import SECRET_DISPLAY_CHARS, Delivery, Webhook

__all__ = [
    "CreatedWebhook",
    "DeliveryPage",
    "WebhookAnswer",
    "WebhookDelivery",
    "WebhookList",
    "created_webhook_of",
    "delivery_of",
    "webhook_of",
]


class WebhookAnswer(msgspec.Struct):
    """A subscription; only ``secret_prefix`` of its signing secret."""

    id: str
    url: str
    events: list[str]
    active: bool
    created_at: str
    secret_prefix: str


class CreatedWebhook(WebhookAnswer):
    """The answer to its creation, the only one with the whole signing secret."""

    secret: str


class WebhookList(msgspec.Struct):
    webhooks: list[WebhookAnswer]


class WebhookDelivery(msgspec.Struct):
    """One event to one webhook, with every attempt; ``data`` is the event's payload."""

    id: int
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    created_at: str
    next_attempt_at: str | None
    finished_at: str | None
    attempts: list[dict[str, Any]]
    data: Any


class DeliveryPage(msgspec.Struct):
    deliveries: list[WebhookDelivery]
    next_cursor: str | None


def webhook_of(webhook: Webhook) -> WebhookAnswer:
    return WebhookAnswer(
        id=webhook.id,
        url=webhook.url,
        events=webhook.events,
        active=webhook.active,
        created_at=webhook.created_at.isoformat(),
        secret_prefix=webhook.secret[:SECRET_DISPLAY_CHARS],
    )


def created_webhook_of(webhook: Webhook) -> CreatedWebhook:
    return CreatedWebhook(**msgspec.structs.asdict(webhook_of(webhook)), secret=webhook.secret)


def delivery_of(delivery: Delivery) -> WebhookDelivery:
    return WebhookDelivery(**delivery.to_json())
