"""Webhooks in PostgreSQL: subscriptions, the outbox (``enqueue``) and the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from cxloop.db import Connection
from cxloop.webhooks.model import EVENT_TYPES, new_event_id, new_secret, new_webhook_id

__all__ = [
    "Delivery",
    "Webhook",
    "WebhookEvent",
    "create_webhook",
    "delete_webhook",
    "enqueue",
    "enqueue_many",
    "enqueue_to_webhook",
    "get_webhook",
    "list_deliveries",
    "list_webhooks",
]

# How much of the secret GET shows, so a vendor can tell which one a receiver holds.
SECRET_DISPLAY_CHARS = 12

_encode = msgspec.json.Encoder().encode

INSERT_WEBHOOK = """
INSERT INTO webhooks (project_id, id, url, secret, events)
VALUES ($1, $2, $3, $4, $5::text[])
RETURNING id, url, secret, events, active, created_at
"""
SELECT_WEBHOOKS = """
SELECT id, url, secret, events, active, created_at
FROM webhooks
WHERE project_id = $1 AND ($2::text IS NULL OR id = $2)
ORDER BY created_at, id
"""
DELETE_WEBHOOK = "DELETE FROM webhooks WHERE project_id = $1 AND id = $2"

# One delivery per active webhook of the event's project subscribed to its type. Payloads come
# as JSON text (works with or without a jsonb codec on the connection).
ENQUEUE = """
INSERT INTO webhook_deliveries (project_id, webhook_id, event_id, event_type, payload)
SELECT w.project_id, w.id, e.event_id, e.event_type, e.payload::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
     AS e(project_id, event_id, event_type, payload)
JOIN webhooks AS w
  ON w.project_id = e.project_id AND w.active AND e.event_type = any (w.events)
ORDER BY w.project_id, w.id, e.event_id
ON CONFLICT (webhook_id, event_id) DO NOTHING
"""
# POST /v1/webhooks/{id}/test: to this webhook only, whatever it subscribes to.
ENQUEUE_TO_WEBHOOK = """
INSERT INTO webhook_deliveries (project_id, webhook_id, event_id, event_type, payload)
SELECT project_id, id, $3, $4, $5::text::jsonb
FROM webhooks
WHERE project_id = $1 AND id = $2
RETURNING id, event_id, event_type, payload::text AS payload, status, attempts,
          next_attempt_at, created_at, finished_at
"""
SELECT_DELIVERIES = """
SELECT id, event_id, event_type, payload::text AS payload, status, attempts, next_attempt_at,
       created_at, finished_at
FROM webhook_deliveries
WHERE project_id = $1 AND webhook_id = $2
  AND ($3::text IS NULL OR status = $3)
  AND ($4::bigint IS NULL OR id < $4)
ORDER BY id DESC
LIMIT $5
"""
SELECT_ATTEMPTS = """
SELECT delivery_id, attempt, attempted_at, status_code, error, duration_ms
FROM webhook_attempts
WHERE delivery_id = any ($1::bigint[])
ORDER BY delivery_id, attempt
"""


class Webhook(msgspec.Struct, kw_only=True):
    id: str
    url: str
    secret: str
    events: list[str]
    active: bool
    created_at: datetime

    def to_json(self, *, with_secret: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "secret_prefix": self.secret[:SECRET_DISPLAY_CHARS],
        }
        if with_secret:
            body["secret"] = self.secret
        return body


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something to tell a project's webhooks; ``id`` is the event id receivers dedupe on."""

    project_id: str
    type: str
    data: Any
    id: str = msgspec.field(default_factory=new_event_id)


class Delivery(msgspec.Struct, kw_only=True):
    id: int
    event_id: str
    event_type: str
    data: msgspec.Raw
    status: str
    next_attempt_at: datetime
    created_at: datetime
    finished_at: datetime | None
    attempts: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": (
                self.next_attempt_at.isoformat() if self.status == "pending" else None
            ),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "attempts": self.attempts,
            "data": self.data,
        }


def _webhook(row: asyncpg.Record) -> Webhook:
    return Webhook(
        id=row["id"],
        url=row["url"],
        secret=row["secret"],
        events=list(row["events"]),
        active=row["active"],
        created_at=row["created_at"],
    )


async def create_webhook(
    conn: Connection, project_id: str, url: str, events: Sequence[str]
) -> Webhook:
    # The API's order, each type once: the subscription reads back as it was meant.
    unique = [event for event in EVENT_TYPES if event in set(events)]
    row = await conn.fetchrow(
        INSERT_WEBHOOK, project_id, new_webhook_id(), url, new_secret(), unique
    )
    assert row is not None
    return _webhook(row)


async def list_webhooks(conn: Connection, project_id: str) -> list[Webhook]:
    return [_webhook(row) for row in await conn.fetch(SELECT_WEBHOOKS, project_id, None)]


async def get_webhook(conn: Connection, project_id: str, webhook_id: str) -> Webhook | None:
    row = await conn.fetchrow(SELECT_WEBHOOKS, project_id, webhook_id)
    return None if row is None else _webhook(row)


async def delete_webhook(conn: Connection, project_id: str, webhook_id: str) -> bool:
    """Delete a webhook with its pending deliveries and log; False when there is none."""
    return await conn.execute(DELETE_WEBHOOK, project_id, webhook_id) == "DELETE 1"


async def enqueue_many(conn: Connection, events: Sequence[WebhookEvent]) -> int:
    """Queue each event for every active webhook of its project subscribed to its type.

    Run it in the transaction that makes the change the events report: the deliveries exist
    exactly when the change does. Returns how many deliveries were queued.
    """
    if not events:
        return 0
    for event in events:
        if event.type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {event.type!r}")
    status = await conn.execute(
        ENQUEUE,
        [event.project_id for event in events],
        [event.id for event in events],
        [event.type for event in events],
        [_encode(event.data).decode() for event in events],
    )
    return int(status.rsplit(" ", 1)[-1])


async def enqueue(conn: Connection, project_id: str, event_type: str, payload: Any) -> int:
    """Queue one event (``payload`` becomes the body's ``data``); see :func:`enqueue_many`."""
    return await enqueue_many(
        conn, [WebhookEvent(project_id=project_id, type=event_type, data=payload)]
    )


async def enqueue_to_webhook(
    conn: Connection, project_id: str, webhook_id: str, event_type: str, payload: Any
) -> Delivery | None:
    """Queue an event for one webhook, subscribed or not; None when there is no such webhook."""
    row = await conn.fetchrow(
        ENQUEUE_TO_WEBHOOK,
        project_id,
        webhook_id,
        new_event_id(),
        event_type,
        _encode(payload).decode(),
    )
    return None if row is None else _delivery(row, [])


def _delivery(row: asyncpg.Record, attempts: list[dict[str, Any]]) -> Delivery:
    return Delivery(
        id=row["id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        data=msgspec.Raw(row["payload"].encode()),
        status=row["status"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        attempts=attempts,
    )


async def list_deliveries(
    conn: Connection,
    project_id: str,
    webhook_id: str,
    *,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Delivery]:
    """A webhook's deliveries, newest first, each with its attempts (oldest first)."""
    rows = await conn.fetch(SELECT_DELIVERIES, project_id, webhook_id, status, before_id, limit)
    attempts: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    if rows:
        for attempt in await conn.fetch(SELECT_ATTEMPTS, list(attempts)):
            attempts[attempt["delivery_id"]].append(
                {
                    "attempt": attempt["attempt"],
                    "attempted_at": attempt["attempted_at"].isoformat(),
                    "status_code": attempt["status_code"],
                    "error": attempt["error"],
                    "duration_ms": round(attempt["duration_ms"], 1),
                }
            )
    return [_delivery(row, attempts[row["id"]]) for row in rows]
