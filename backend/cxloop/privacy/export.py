"""Access: everything cxloop holds about one end user, as one JSON document or a zip.

PostgreSQL gives the profile (the users row and its traits, memberships and their accounts,
survey responses with their comments and analysis, impressions, alerts); the lake gives the
events. Reads are bounded by the project: pyarrow opens only the project's partition
directories and filters row groups on ``user_id``/``anonymous_id`` statistics; failed events
(whose ids were never parsed) are matched by the ids in their raw text, batch by batch. On an
object-store lake the project's partitions are listed and each one's live files read
(``cxloop.lake.live_files``: never a merged file beside its sources).
"""

from __future__ import annotations

import contextlib
import io
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.db import Connection
from cxloop.lake import (
    EVENTS_STORE,
    FAILED_STORE,
    LakeLocation,
    as_location,
    events_dataset,
    failed_dataset,
    live_files,
    project_dir,
    read_consistently,
)
from cxloop.projects import event_subject_ids
from cxloop.wal import EVENT_LAKE_SCHEMA, FAILED_LAKE_SCHEMA

__all__ = [
    "ExportSubject",
    "export_json_chunks",
    "export_profile",
    "export_zip",
    "subject_events",
    "subject_failed_events",
]

# Each a JSON text per row (any connection, codecs or not): the columns as PostgreSQL names
# them, times as ISO text.
SELECT_USER = "SELECT to_jsonb(u)::text FROM users u WHERE project_id = $1 AND user_id = $2"
SELECT_MEMBERSHIPS = """
SELECT to_jsonb(m)::text FROM memberships m WHERE project_id = $1 AND user_id = $2
ORDER BY first_seen_at, account_id
"""
SELECT_ACCOUNTS = """
SELECT to_jsonb(a)::text FROM accounts a
WHERE project_id = $1
  AND account_id IN (SELECT account_id FROM memberships WHERE project_id = $1 AND user_id = $2)
ORDER BY account_id
"""
# A row is the subject's when it carries the user id, or the anonymous id if one is given.
SELECT_RESPONSES = """
SELECT to_jsonb(r)::text FROM survey_responses r
WHERE project_id = $1 AND (user_id = $2 OR ($3::text IS NOT NULL AND anonymous_id = $3))
ORDER BY responded_at, response_id
"""
SELECT_IMPRESSIONS = """
SELECT to_jsonb(i)::text FROM survey_impressions i
WHERE project_id = $1 AND (user_id = $2 OR ($3::text IS NOT NULL AND anonymous_id = $3))
"""
SELECT_ALERTS = """
SELECT to_jsonb(a)::text FROM alerts a
WHERE project_id = $1 AND (user_id = $2 OR ($3::text IS NOT NULL AND anonymous_id = $3))
ORDER BY id
"""
# Object fields kept as the customer's JSON text in the lake; decoded for the JSON export.
_JSON_COLUMNS = ("properties", "traits", "context", "integrations", "extra")
_BATCH_ROWS = 8192
_encoder = msgspec.json.Encoder()


class ExportSubject(msgspec.Struct, frozen=True):
    project_id: str
    user_id: str
    anonymous_id: str | None = None


async def export_profile(conn: Connection, subject: ExportSubject) -> dict[str, Any]:
    """What PostgreSQL holds about the subject."""
    project, user, anonymous = subject.project_id, subject.user_id, subject.anonymous_id

    async def rows(sql: str, *args: Any) -> list[Any]:
        return [msgspec.json.decode(row[0]) for row in await conn.fetch(sql, *args)]

    user_row: str | None = await conn.fetchval(SELECT_USER, project, user)
    return {
        "subject": {"userId": user, "anonymousId": anonymous},
        "project_id": project,
        "exported_at": datetime.now(UTC).isoformat(),
        "user": msgspec.json.decode(user_row) if user_row is not None else None,
        "memberships": await rows(SELECT_MEMBERSHIPS, project, user),
        "accounts": await rows(SELECT_ACCOUNTS, project, user),
        "survey_responses": await rows(SELECT_RESPONSES, project, user, anonymous),
        "survey_impressions": await rows(SELECT_IMPRESSIONS, project, user, anonymous),
        "alerts": await rows(SELECT_ALERTS, project, user, anonymous),
    }


_SWAPPED = (FileNotFoundError, pa.ArrowInvalid)


def subject_events(
    lake_dir: Path | LakeLocation, subject: ExportSubject
) -> Iterator[pa.RecordBatch]:
    """The subject's valid events, oldest partition first (lake schema, no partition columns)."""
    names = ds.field("user_id") == subject.user_id
    if subject.anonymous_id is not None:
        names = names | (ds.field("anonymous_id") == subject.anonymous_id)
    location = as_location(lake_dir)
    if location.local is None:
        yield from _read_objects(
            lambda: _object_batches(location, EVENTS_STORE, subject, EVENT_LAKE_SCHEMA, names)
        )
        return
    lake_dir = location.local
    condition = (ds.field("project_id") == subject.project_id) & names

    def read() -> list[pa.RecordBatch]:
        scanner = events_dataset(lake_dir).scanner(
            columns=EVENT_LAKE_SCHEMA.names, filter=condition, batch_size=_BATCH_ROWS
        )
        return [batch for batch in scanner.to_batches() if batch.num_rows]

    # One subject's rows, read whole so that a merge swapping files meanwhile means reading
    # again, never a short or doubled answer (lake/rewrite.py read_consistently).
    yield from read_consistently(lake_dir, read, retry_on=_SWAPPED)


def subject_failed_events(
    lake_dir: Path | LakeLocation, subject: ExportSubject
) -> Iterator[pa.RecordBatch]:
    """The project's failed events whose raw text names the subject (userId, anonymousId or
    an alias' previousId)."""

    def found(batches: Iterator[pa.RecordBatch]) -> list[pa.RecordBatch]:
        out = []
        for batch in batches:
            raws = batch.column("raw").to_pylist()
            keep = [raw is not None and _names(raw, subject) for raw in raws]
            if any(keep):
                out.append(batch.filter(pa.array(keep, type=pa.bool_())))
        return out

    location = as_location(lake_dir)
    if location.local is None:
        yield from _read_objects(
            lambda: found(
                iter(_object_batches(location, FAILED_STORE, subject, FAILED_LAKE_SCHEMA, None))
            )
        )
        return
    local = location.local

    def read() -> list[pa.RecordBatch]:
        scanner = failed_dataset(local).scanner(
            columns=FAILED_LAKE_SCHEMA.names,
            filter=ds.field("project_id") == subject.project_id,
            batch_size=_BATCH_ROWS,
        )
        return found(scanner.to_batches())

    yield from read_consistently(local, read, retry_on=_SWAPPED)


def _object_batches(
    location: LakeLocation,
    store: str,
    subject: ExportSubject,
    schema: pa.Schema,
    condition: ds.Expression | None,
) -> list[pa.RecordBatch]:
    """The rows of the project's live files in ``store`` that ``condition`` selects, oldest
    partition first, read whole (see :func:`_read_objects`)."""
    prefix = project_dir(Path(), store, subject.project_id).as_posix()
    selector = pafs.FileSelector(location.path(prefix), allow_not_found=True)
    days = sorted(
        info.base_name
        for info in location.fs.get_file_info(selector)
        if info.type == pafs.FileType.Directory and info.base_name.startswith("date=")
    )
    out: list[pa.RecordBatch] = []
    for day in days:
        files = live_files(location, f"{prefix}/{day}")
        if not files:
            continue
        dataset = ds.dataset([f.key for f in files], format="parquet", filesystem=location.fs)
        scanner = dataset.scanner(columns=schema.names, filter=condition, batch_size=_BATCH_ROWS)
        out.extend(batch for batch in scanner.to_batches() if batch.num_rows)
    return out


def _read_objects(
    read: Callable[[], list[pa.RecordBatch]], attempts: int = 10
) -> list[pa.RecordBatch]:
    """``read()``, again when a file it listed was gone when it opened it (a merge deleted
    its sources meanwhile: listing again finds the merged file instead)."""
    for attempt in range(attempts):
        try:
            return read()
        except _SWAPPED:
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.5, 0.01 * 2**attempt))
    raise AssertionError("unreachable")


def _names(raw: str, subject: ExportSubject) -> bool:
    ids = event_subject_ids(raw)
    if ids is None:
        return False
    people, anonymous, _ = ids
    return subject.user_id in people or (
        subject.anonymous_id is not None and subject.anonymous_id in anonymous
    )


def _event_dicts(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = batch.to_pylist()
    for row in rows:
        for name in _JSON_COLUMNS:
            text = row.get(name)
            if text is not None:
                with contextlib.suppress(msgspec.DecodeError):  # else kept as the text it is
                    row[name] = msgspec.json.decode(text)
    return rows


def export_json_chunks(
    profile: dict[str, Any], lake_dir: Path | LakeLocation, subject: ExportSubject
) -> Iterator[bytes]:
    """One JSON document, in chunks: the profile's members, then ``events`` and
    ``failed_events`` a record batch at a time (memory stays bounded by a batch)."""
    head = _encoder.encode(profile)
    yield head[:-1]  # the profile object, left open
    separator = b"" if head == b"{}" else b","
    for name, batches in (
        ("events", subject_events(lake_dir, subject)),
        ("failed_events", subject_failed_events(lake_dir, subject)),
    ):
        yield separator + b'"' + name.encode() + b'":['
        separator = b","
        first = True
        for batch in batches:
            for row in _event_dicts(batch):
                yield (b"" if first else b",") + _encoder.encode(row)
                first = False
        yield b"]"
    yield b"}"


def export_zip(
    profile: dict[str, Any], lake_dir: Path | LakeLocation, subject: ExportSubject
) -> bytes:
    """A zip of ``profile.json``, ``events.parquet`` and ``failed_events.parquet``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("profile.json", _encoder.encode(profile))
        for name, schema, batches in (
            ("events.parquet", EVENT_LAKE_SCHEMA, subject_events(lake_dir, subject)),
            ("failed_events.parquet", FAILED_LAKE_SCHEMA, subject_failed_events(lake_dir, subject)),
        ):
            parquet = io.BytesIO()
            with pq.ParquetWriter(parquet, schema, compression="zstd") as writer:
                for batch in batches:
                    writer.write_table(pa.Table.from_batches([batch]).cast(schema))
            archive.writestr(name, parquet.getvalue())
    return buffer.getvalue()
