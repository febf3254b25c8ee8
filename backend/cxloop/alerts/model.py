"""Alerts: which ratings open one, what the API accepts, what it answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from cxloop.surveys import is_kind, segment_of

__all__ = [
    "REASONS",
    "STATUSES",
    "AlertPatch",
    "NoteInput",
    "Reason",
    "Status",
    "alert_json",
    "is_detractor",
]

Status = Literal["open", "acknowledged", "resolved"]
STATUSES: tuple[str, ...] = ("open", "acknowledged", "resolved")
# Why an alert is open: a detractor score, churn intent in the comment, a competitor named in
# it (the last two whatever the score, when the project's insights configuration says so).
Reason = Literal["detractor", "churn_intent", "competitor"]
REASONS: tuple[str, ...] = ("detractor", "churn_intent", "competitor")

Assignee = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Author = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
NoteText = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]

_decode_notes = msgspec.json.Decoder(list[dict[str, Any]]).decode
_decode_analysis = msgspec.json.Decoder(dict[str, Any] | None).decode


def is_detractor(kind: str | None, score: float | None) -> bool:
    """True for a rating that opens an alert: low NPS/CSAT/emoji, high-effort CES, thumbs down."""
    if not is_kind(kind) or score is None:
        return False
    return segment_of(kind, score) == "detractor"


class AlertPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /v1/alerts/{id}``: either field or both; ``assignee: null`` unassigns."""

    status: Status | msgspec.UnsetType = msgspec.UNSET
    assignee: Assignee | msgspec.UnsetType | None = msgspec.UNSET


class NoteInput(msgspec.Struct, forbid_unknown_fields=True):
    """A note's text; the author is the caller's credential. ``author`` is accepted for
    compatibility: ignored for a person or a token, kept beside the key for the secret key."""

    text: NoteText
    author: Author | None = None


def alert_json(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An alert row (notes and the comment's analysis as JSON text) as the API and webhooks
    show it; ``analysis`` is null until the comment is analysed (and while a changed comment
    waits for its new analysis)."""

    def iso(name: str) -> str | None:
        value = row[name]
        return None if value is None else value.isoformat()

    return {
        "id": row["id"],
        "status": row["status"],
        "assignee": row["assignee"],
        "response_id": row["response_id"],
        "survey_id": row["survey_id"],
        "kind": row["kind"],
        "score": row["score"],
        "comment": row["comment"],
        "feature": row["feature"],
        "user_id": row["user_id"],
        "anonymous_id": row["anonymous_id"],
        "account_id": row["account_id"],
        "responded_at": iso("responded_at"),
        "opened_at": iso("opened_at"),
        "updated_at": iso("updated_at"),
        "resolved_at": iso("resolved_at"),
        "notes": _decode_notes(row["notes"]),
        "reasons": list(row["reasons"]),
        "analysis": None if row["analysis"] is None else _analysis(row["analysis"]),
    }


def _analysis(text: str) -> dict[str, Any] | None:
    analysis = _decode_analysis(text)
    if analysis is None:
        return None
    # Arrays PostgreSQL stored empty come back as [] (never null) in the answer.
    for name in ("competitors", "topics"):
        analysis[name] = analysis.get(name) or []
    return analysis
