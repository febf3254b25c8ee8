"""The webhooks API's answer Structs encode as the API always answered."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from cxloop.webhooks.schemas import created_webhook_of, delivery_of, webhook_of
from cxloop.webhooks.store import Delivery, Webhook

_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_webhook_shows_its_whole_secret_only_when_created() -> None:
    webhook = Webhook(
        id="wh_1", url="https://hooks.example.com/in", secret="whsec_abcdefghijklmnop",
        events=["alert.opened"], active=True, created_at=_AT,
    )  # fmt: skip
    encode = msgspec.json.encode
    assert encode(webhook_of(webhook)) == encode(webhook.to_json())
    assert encode(created_webhook_of(webhook)) == encode(webhook.to_json(with_secret=True))
    assert "secret" not in msgspec.to_builtins(webhook_of(webhook))


def test_a_delivery_encodes_as_before() -> None:
    delivery = Delivery(
        id=7, event_id="evt_1", event_type="ping", data=msgspec.Raw(b'{"a":1}'),
        status="pending", next_attempt_at=_AT, created_at=_AT, finished_at=None,
        attempts=[{"at": "x", "status": 500}],
    )  # fmt: skip
    assert msgspec.json.encode(delivery_of(delivery)) == msgspec.json.encode(delivery.to_json())
