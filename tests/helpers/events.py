"""Segment-shaped WAL rows for projection tests: identify, group, track, survey responses."""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa

from cxloop.wal import rows_to_batch
from tests.helpers.rows import BASE_US, wal_row

__all__ = ["BASE_US", "SECOND_US", "group", "identify", "survey", "table", "track"]

SECOND_US = 1_000_000
Row = tuple[Any, ...]


def _json(value: Any) -> str | None:
    """JSON text of ``value``; a str is taken as JSON text already (to send broken JSON)."""
    if value is None or isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def _row(message_id: str, project_id: str, at: int, **values: Any) -> Row:
    """A WAL row at event time ``at``; later keyword arguments override earlier ones."""
    return wal_row(message_id, project_id, **{"timestamp": at, "received_at": at, **values})


def identify(
    message_id: str,
    user_id: str,
    traits: dict[str, Any] | str | None,
    *,
    at: int = BASE_US,
    project_id: str = "prj_test",
    **fields: Any,
) -> Row:
    return _row(
        message_id,
        project_id,
        at,
        type="identify",
        event=None,
        properties=None,
        user_id=user_id,
        traits=_json(traits),
        **fields,
    )


def group(
    message_id: str,
    user_id: str | None,
    group_id: str,
    traits: dict[str, Any] | str | None,
    *,
    at: int = BASE_US,
    project_id: str = "prj_test",
    **fields: Any,
) -> Row:
    return _row(
        message_id,
        project_id,
        at,
        type="group",
        event=None,
        properties=None,
        user_id=user_id,
        group_id=group_id,
        traits=_json(traits),
        **fields,
    )


def track(
    message_id: str,
    event: str,
    properties: dict[str, Any] | None = None,
    *,
    user_id: str | None = "u1",
    group_id: str | None = None,
    at: int = BASE_US,
    project_id: str = "prj_test",
    **fields: Any,
) -> Row:
    return _row(
        message_id,
        project_id,
        at,
        type="track",
        event=event,
        properties=_json(properties),
        user_id=user_id,
        group_id=group_id,
        **fields,
    )


def survey(
    message_id: str,
    response_id: str,
    *,
    score: float | None = 9,
    kind: str | None = "nps",
    comment: str | None = None,
    partial: bool | None = None,
    survey_id: str | None = "srv_1",
    feature: str | None = None,
    **fields: Any,
) -> Row:
    """A ``Survey Responded`` track event; None leaves a property out."""
    properties = {
        "response_id": response_id,
        "survey_id": survey_id,
        "kind": kind,
        "score": score,
        "comment": comment,
        "feature": feature,
        "partial": partial,
    }
    return track(
        message_id,
        "Survey Responded",
        {k: v for k, v in properties.items() if v is not None},
        **fields,
    )


def table(*rows: Row) -> pa.Table:
    return pa.Table.from_batches([rows_to_batch(list(rows))])
