"""The lake part of an export: only the subject's events, valid and failed, of one project."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cxloop.lake import partition_dir
from cxloop.privacy.export import (
    ExportSubject,
    export_json_chunks,
    export_zip,
    subject_events,
    subject_failed_events,
)
from cxloop.wal import EVENT_LAKE_SCHEMA, FAILED_LAKE_SCHEMA

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _event(message_id: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in EVENT_LAKE_SCHEMA.names}
    return {**row, "message_id": message_id, "received_at": AT, "timestamp": AT, **fields}


def _failed(message_id: str, raw: str) -> dict[str, Any]:
    return {"message_id": message_id, "received_at": AT, "type": "track",
            "failure_reason": "missing_event", "failure_detail": "no event", "raw": raw}  # fmt: skip


def _write(lake: Path, store: str, project: str, day: date, rows: list[dict[str, Any]]) -> None:
    schema = EVENT_LAKE_SCHEMA if store == "events" else FAILED_LAKE_SCHEMA
    directory = partition_dir(lake, store, project, day)
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=schema), directory / f"part-{len(rows)}.parquet"
    )


def _lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    _write(lake, "events", "p", date(2026, 3, 1), [
        _event("u-1", user_id="u", properties='{"plan": "pro"}'),
        _event("a-1", anonymous_id="a"),
        _event("x-1", user_id="x"),
    ])  # fmt: skip
    _write(lake, "events", "p", date(2026, 3, 2), [_event("u-2", user_id="u", context="{}")])
    _write(lake, "events", "q", date(2026, 3, 1), [_event("q-u", user_id="u")])
    _write(lake, "failed", "p", date(2026, 3, 1), [
        _failed("f-u", '{"userId": "u"}'),
        _failed("f-num", '{"userId": 5, "anonymousId": "a"}'),
        _failed("f-x", '{"userId": "x"}'),
        _failed("f-broken", '{"userId": "u'),
    ])  # fmt: skip
    # Another project's damaged file: the export must never open it.
    broken = partition_dir(lake, "events", "zz", date(2026, 3, 1))
    broken.mkdir(parents=True)
    (broken / "part-0.parquet").write_bytes(b"not parquet")
    return lake


def _ids(batches: Any) -> list[str]:
    return sorted(i for batch in batches for i in batch.column("message_id").to_pylist())


def test_only_the_subjects_rows_of_the_project(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    assert _ids(subject_events(lake, ExportSubject("p", "u"))) == ["u-1", "u-2"]
    assert _ids(subject_events(lake, ExportSubject("p", "u", "a"))) == ["a-1", "u-1", "u-2"]
    assert _ids(subject_failed_events(lake, ExportSubject("p", "u"))) == ["f-u"]
    assert _ids(subject_failed_events(lake, ExportSubject("p", "5", "a"))) == ["f-num"]
    assert _ids(subject_events(lake, ExportSubject("q", "u"))) == ["q-u"]
    assert _ids(subject_events(tmp_path / "empty", ExportSubject("p", "u"))) == []


def test_json_document_and_zip(tmp_path: Path) -> None:
    lake = _lake(tmp_path)
    subject = ExportSubject("p", "u", "a")
    profile = {"subject": {"userId": "u"}, "user": {"traits": {"name": "Ü"}}}
    document = json.loads(b"".join(export_json_chunks(profile, lake, subject)))
    assert document["user"] == {"traits": {"name": "Ü"}}
    assert sorted(e["message_id"] for e in document["events"]) == ["a-1", "u-1", "u-2"]
    first = next(e for e in document["events"] if e["message_id"] == "u-1")
    assert first["properties"] == {"plan": "pro"}  # the customer's JSON as JSON
    assert first["timestamp"].startswith("2026-03-01T12:00:00")
    assert [e["message_id"] for e in document["failed_events"]] == ["f-u", "f-num"]
    empty = json.loads(b"".join(export_json_chunks({}, lake, ExportSubject("p", "nobody"))))
    assert empty == {"events": [], "failed_events": []}

    with zipfile.ZipFile(io.BytesIO(export_zip(profile, lake, subject))) as archive:
        events = pq.read_table(io.BytesIO(archive.read("events.parquet")))
        failed = pq.read_table(io.BytesIO(archive.read("failed_events.parquet")))
        assert json.loads(archive.read("profile.json")) == profile
    assert events.schema.names == EVENT_LAKE_SCHEMA.names
    assert sorted(events.column("message_id").to_pylist()) == ["a-1", "u-1", "u-2"]
    assert failed.column("message_id").to_pylist() == ["f-u", "f-num"]
