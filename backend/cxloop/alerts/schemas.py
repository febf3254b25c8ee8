"""The alerts API's answers, as msgspec Structs (the wire and OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec

from cxloop.alerts.model import Assignee, Reason, Status, alert_json

__all__ = [
    "Alert",
    "AlertBulkPatch",
    "AlertPage",
    "BulkUpdate",
    "CommentSummary",
    "alert_of",
]


class CommentSummary(msgspec.Struct):
    """What the comment analysis (cxloop.insights) found in the response's comment."""

    sentiment: str | None
    churn_intent: bool | None
    competitors: list[str]
    topics: list[str]


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
    reasons: list[Reason]
    analysis: CommentSummary | None


class AlertPage(msgspec.Struct):
    alerts: list[Alert]
    next_cursor: str | None


class AlertBulkPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/alerts/bulk``: the same change to 1..500 alerts, all or none."""

    ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=500)]
    status: Status | msgspec.UnsetType = msgspec.UNSET
    assignee: Assignee | msgspec.UnsetType | None = msgspec.UNSET


class BulkUpdate(msgspec.Struct):
    """How many alerts changed, and every alert named, in the order given."""

    updated: int
    alerts: list[Alert]


def alert_of(row: asyncpg.Record) -> Alert:
    # The same fields, in the same order, as the webhooks' ``alert.*`` payloads.
    fields = alert_json(row)
    analysis = fields.pop("analysis")
    return Alert(**fields, analysis=None if analysis is None else CommentSummary(**analysis))
