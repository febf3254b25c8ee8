"""Building WAL rows for tests without repeating 21-element tuples."""

from __future__ import annotations

from typing import Any

from cxloop.wal import EventRow

BASE_US = 1_795_428_000_000_000  # 2026-11-23T10:00:00Z
_NAMES = EventRow._fields


def wal_row(message_id: str, project_id: str = "prj_test", **fields: Any) -> EventRow:
    values: dict[str, Any] = {
        "project_id": project_id,
        "message_id": message_id,
        "type": "track",
        "event": "Feature Used",
        "user_id": "u1",
        "timestamp": BASE_US,
        "received_at": BASE_US,
        "properties": '{"feature":"reports"}',
    }
    values.update(fields)
    unknown = set(values) - set(_NAMES)
    if unknown:
        raise KeyError(f"not WAL columns: {sorted(unknown)}")
    return EventRow._make(values.get(name) for name in _NAMES)
