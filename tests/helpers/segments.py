"""Sealed WAL segment files for lake tests, written the way the WAL writer writes them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxloop.wal import WAL_SCHEMA, rows_to_batch
from cxloop.wal.segment import encode_frame, encode_header
from tests.helpers.rows import BASE_US, wal_row

__all__ = ["BASE_US", "DAY_US", "failed_row", "segment_path", "write_segment"]

DAY_US = 86_400_000_000
Row = tuple[Any, ...]


def failed_row(
    message_id: str,
    project_id: str = "prj_test",
    *,
    reason: str = "missing_event",
    received_at: int = BASE_US,
    **fields: Any,
) -> Row:
    """A WAL row for an event that failed validation (typed reason, detail, raw text)."""
    values: dict[str, Any] = {
        "event": None,
        "timestamp": None,
        "received_at": received_at,
        "failure_reason": reason,
        "failure_detail": f"{reason} in {message_id}",
        "raw": f'{{"messageId":"{message_id}"}}',
        **fields,
    }
    return wal_row(message_id, project_id, **values)


def segment_path(directory: Path, number: int, slot: str = "w0") -> Path:
    """``<slot>-<20-digit ns>.sealed``: numbers sort like the writer's nanosecond stamps."""
    return directory / f"{slot}-{BASE_US * 1000 + number:020d}.sealed"


def write_segment(path: Path, frames: Sequence[Sequence[Row]]) -> Path:
    """A sealed segment with one CRC-framed record batch per entry of ``frames``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(encode_frame(rows_to_batch(list(rows))) for rows in frames)
    path.write_bytes(encode_header(WAL_SCHEMA) + body)
    return path
