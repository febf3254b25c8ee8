"""The pipeline's filter: rows of suppressed subjects (valid, and failed by their raw text) go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from cxloop.ops import Registry
from cxloop.privacy import SuppressionFilter
from cxloop.projects import subject_digest
from cxloop.settings import Settings
from cxloop.wal import WAL_SCHEMA


def row(message_id: str, project: str = "p", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {name: None for name in WAL_SCHEMA.names}
    return {**base, "project_id": project, "message_id": message_id, "received_at": 1, **fields}


def test_drops_only_the_subjects_rows_and_counts_them(tmp_path: Path) -> None:
    pipeline_filter = SuppressionFilter(Settings(data_dir=tmp_path), Registry())
    pipeline_filter.suppressions.add(
        "p",
        [
            subject_digest("p", "user", "gone"),
            subject_digest("p", "anonymous", "anon"),
            subject_digest("p", "account", "acme"),
        ],
    )
    rows = [
        row("keep-1", user_id="kept"),
        row("drop-user", user_id="gone"),
        row("drop-anon", anonymous_id="anon", user_id="new-id"),
        row("drop-account", user_id="kept", group_id="acme"),
        row("drop-alias", type="alias", user_id="kept", previous_id="anon"),
        row("drop-failed", failure_reason="missing_event", raw='{"userId":"gone"}'),
        row("drop-failed-ctx", failure_reason="x", raw='{"context":{"groupId":"acme"}}'),
        row("keep-failed", failure_reason="missing_event", raw='{"userId":"kept"}'),
        row("keep-broken", failure_reason="invalid_json", raw='{"userId": "gone'),
        row("keep-other-project", project="q", user_id="gone"),
    ]
    table = pa.Table.from_pylist(rows, schema=WAL_SCHEMA)
    expand = pipeline_filter.wrap(lambda read: table)
    kept = expand(None)  # type: ignore[arg-type]
    assert kept.column("message_id").to_pylist() == [
        "keep-1",
        "keep-failed",
        "keep-broken",
        "keep-other-project",
    ]
    assert kept.schema == WAL_SCHEMA
    assert pipeline_filter.dropped("p") == 6 and pipeline_filter.dropped("q") == 0
    assert pipeline_filter.counter.values[()] == 6


def test_without_suppressions_the_table_is_returned_as_is(tmp_path: Path) -> None:
    pipeline_filter = SuppressionFilter(Settings(data_dir=tmp_path), Registry())
    pipeline_filter.suppressions.add("other", [subject_digest("other", "user", "u")])
    table = pa.Table.from_pylist([row("a", user_id="u")], schema=WAL_SCHEMA)
    assert pipeline_filter.filter(table) is table


def test_starts_from_the_state_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = SuppressionFilter(settings, Registry())
    first.suppressions.add("p", [subject_digest("p", "user", "gone")])
    first.suppressions.persist_now()
    restarted = SuppressionFilter(settings, Registry())  # PostgreSQL down: nothing refreshed
    table = pa.Table.from_pylist([row("a", user_id="gone")], schema=WAL_SCHEMA)
    assert restarted.filter(table).num_rows == 0
