"""The alerts API's answers, as msgspec Structs (the wire and OpenAPI schema)."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from cxloop.alerts.model import Status, alert_json

__all__ = ["Alert", "AlertPage", "alert_of"]


class Alert(msgspec.Struct):
    """An alert with its notes; times are ISO 8601 strings."""

    id: int
    status: Status
    assignee: str | None
    response_id: str
    survey_id: str | None
    kind: str | None
    score: float | None
    comment: str | None
    feature: str | None
    user_id: str | None
    anonymous_id: str | None
    account_id: str | None
    responded_at: str | None
    opened_at: str | None
    updated_at: str | None
    resolved_at: str | None
    notes: list[dict[str, Any]]


class AlertPage(msgspec.Struct):
    alerts: list[Alert]
    next_cursor: str | None


def alert_of(row: asyncpg.Record) -> Alert:
    # The same fields, in the same order, as the webhooks' ``alert.*`` payloads.
    return Alert(**alert_json(row))
