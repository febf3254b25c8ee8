"""Compaction into the lake: partitions, dedupe, damaged frames, and crashes at every step."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxloop.ingest import events_table
from cxloop.lake import (
    CompactionResult,
    DedupeIndex,
    compact_segment,
    compact_segments,
    duckdb_events_sql,
    duckdb_failed_sql,
    events_dataset,
    failed_dataset,
    owned_valid_events,
    read_event_ids,
)
from cxloop.lake import compactor as compactor_module
from cxloop.wal import EVENT_LAKE_SCHEMA, FAILED_LAKE_SCHEMA, WAL_SCHEMA, read_segment, segment_id
from cxloop.wal.segment import encode_frame, encode_header
from tests.helpers.rows import wal_row
from tests.helpers.segments import BASE_US, DAY_US, failed_row, segment_path, write_segment

Row = tuple[Any, ...]


class Lake:
    """A data directory under tmp: WAL segments, the dedupe index, the lake, quarantine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.wal = root / "wal" / "w0"
        self.lake = root / "lake"
        self.corrupt = root / "wal" / "corrupt"
        self.index_path = root / "state" / "dedupe.sqlite"
        self.index = DedupeIndex(self.index_path)
        self.segments: list[Path] = []

    def segment(self, *frames: Sequence[Row]) -> Path:
        path = write_segment(segment_path(self.wal, len(self.segments) + 1), frames)
        self.segments.append(path)
        return path

    def compact(self, path: Path, row_group_rows: int = 1000) -> CompactionResult:
        return compact_segment(
            path,
            expand=events_table,
            lake_dir=self.lake,
            index=self.index,
            corrupt_dir=self.corrupt,
            row_group_rows=row_group_rows,
        )

    def owned(self, path: Path) -> pa.Table:
        return owned_valid_events(path, self.index, expand=events_table)

    def reopen_index(self) -> None:
        """What a restarted pipeline process does."""
        self.index.close()
        self.index = DedupeIndex(self.index_path)

    def events(self) -> list[dict[str, Any]]:
        return events_dataset(self.lake).to_table().to_pylist()

    def failed(self) -> list[dict[str, Any]]:
        return failed_dataset(self.lake).to_table().to_pylist()

    def files(self) -> dict[str, bytes]:
        """Every file under the lake (temp files included), by relative path."""
        return {
            str(p.relative_to(self.lake)): p.read_bytes()
            for p in sorted(self.lake.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    opened = Lake(tmp_path)
    yield opened
    opened.index.close()


def at(days: float = 0, hours: float = 0) -> int:
    return BASE_US + int(days * DAY_US) + int(hours * 3_600_000_000)


def utc_date(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).date().isoformat()


def ids(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((r["project_id"], r["message_id"]) for r in rows)


# -- layout -----------------------------------------------------------------------------


def test_valid_and_failed_events_land_in_their_partitions(lake: Lake) -> None:
    path = lake.segment(
        [
            wal_row("a", "p1", timestamp=at(hours=2), received_at=at(hours=2)),
            wal_row("b", "p2", timestamp=at(hours=1), received_at=at(hours=2)),
            failed_row("x", "p1", received_at=at(hours=2)),
        ],
        [
            # Late event: dated by its (skew-corrected) timestamp, not by when it arrived.
            wal_row("c", "p1", timestamp=at(days=-3), received_at=at(hours=3)),
            wal_row("d", "p1", timestamp=at(hours=1), received_at=at(hours=3)),
        ],
    )
    result = lake.compact(path)
    name = segment_id(path)
    day, three_days_ago = utc_date(at()), utc_date(at(days=-3))
    assert {str(f.relative_to(lake.lake)) for f in result.files} == {
        f"events/project_id=p1/date={day}/part-{name}.parquet",
        f"events/project_id=p1/date={three_days_ago}/part-{name}.parquet",
        f"events/project_id=p2/date={day}/part-{name}.parquet",
        f"failed/project_id=p1/date={day}/part-{name}.parquet",
    }
    assert (result.rows, result.events_written, result.failed_written, result.duplicates) == (
        5, 4, 1, 0,
    )  # fmt: skip

    # Partition columns live in the path only; rows inside a file are in timestamp order.
    p1_today = pq.read_table(lake.lake / f"events/project_id=p1/date={day}/part-{name}.parquet")
    assert p1_today.schema.remove_metadata() == EVENT_LAKE_SCHEMA
    assert p1_today.column("message_id").to_pylist() == ["d", "a"]
    failed = pq.read_table(lake.lake / f"failed/project_id=p1/date={day}/part-{name}.parquet")
    assert failed.schema.remove_metadata() == FAILED_LAKE_SCHEMA
    assert failed.to_pylist()[0]["failure_reason"] == "missing_event"
    assert failed.to_pylist()[0]["raw"] == '{"messageId":"x"}'


def test_multiple_projects_and_days(lake: Lake) -> None:
    rows = [
        wal_row(f"m{n}", f"p{n % 3}", timestamp=at(days=n % 2, hours=n), received_at=at(days=1))
        for n in range(30)
    ]
    lake.compact(lake.segment(rows[:10], rows[10:]))
    events = lake.events()
    assert ids(events) == sorted((f"p{n % 3}", f"m{n}") for n in range(30))
    for row in events:
        assert row["date"].isoformat() == utc_date(int(row["timestamp"].timestamp() * 1e6))
    assert sorted(read_event_ids(lake.lake, "p1")) == sorted(f"m{n}" for n in range(1, 30, 3))


def test_an_event_without_timestamp_is_dated_by_receipt(lake: Lake) -> None:
    lake.compact(lake.segment([wal_row("a", timestamp=None, received_at=at(days=2))]))
    (row,) = lake.events()
    assert row["date"].isoformat() == utc_date(at(days=2))
    assert row["timestamp"] is None


def test_a_segment_with_only_failed_events(lake: Lake) -> None:
    result = lake.compact(lake.segment([failed_row("x"), failed_row("y", "p2"), failed_row("x")]))
    assert (result.events_written, result.failed_written, result.duplicate_failed) == (0, 2, 1)
    assert not (lake.lake / "events").exists()
    assert lake.events() == []
    assert ids(lake.failed()) == [("p2", "y"), ("prj_test", "x")]


def test_failed_and_valid_events_dedupe_separately(lake: Lake) -> None:
    lake.compact(lake.segment([failed_row("m"), wal_row("m")]))
    result = lake.compact(lake.segment([wal_row("m"), failed_row("m")]))
    assert (result.events_written, result.failed_written, result.duplicates) == (0, 0, 2)
    assert len(lake.events()) == len(lake.failed()) == 1


def test_large_segments_get_several_row_groups(lake: Lake) -> None:
    path = lake.segment([wal_row(f"m{n}", timestamp=at(hours=n / 100)) for n in range(250)])
    (file,) = lake.compact(path, row_group_rows=100).files
    metadata = pq.ParquetFile(file).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        100,
        100,
        50,
    ]
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_odd_project_ids_are_encoded_in_paths(lake: Lake) -> None:
    odd = ["a/b c", "..", "ünï"]
    lake.compact(lake.segment([wal_row(f"m{n}", project) for n, project in enumerate(odd)]))
    assert sorted(path.name for path in (lake.lake / "events").iterdir()) == sorted(
        ["project_id=a%2Fb%20c", "project_id=%2E%2E", "project_id=%C3%BCn%C3%AF"]
    )
    assert ids(lake.events()) == sorted((project, f"m{n}") for n, project in enumerate(odd))


# -- dedupe -----------------------------------------------------------------------------


def test_duplicates_across_and_within_segments_are_dropped(lake: Lake) -> None:
    first = lake.compact(lake.segment([wal_row("a", event="first"), wal_row("b")]))
    second = lake.compact(
        lake.segment(
            [wal_row("a", event="retry"), wal_row("c", event="first"), wal_row("a", "p2")],
            [wal_row("c", event="again")],
        )
    )
    assert (first.events_written, first.duplicates) == (2, 0)
    assert (second.events_written, second.duplicate_events) == (2, 2)
    events = {(r["project_id"], r["message_id"]): r["event"] for r in lake.events()}
    assert events == {
        ("prj_test", "a"): "first",
        ("prj_test", "b"): "Feature Used",
        ("prj_test", "c"): "first",
        ("p2", "a"): "Feature Used",
    }


def test_owned_valid_events_are_what_the_segment_put_in_the_lake(lake: Lake) -> None:
    one = lake.segment([wal_row("a"), wal_row("b"), failed_row("f")])
    two = lake.segment([wal_row("b"), wal_row("c"), wal_row("c")])
    first, second = lake.compact(one), lake.compact(two)
    assert lake.owned(one).column("message_id").to_pylist() == ["a", "b"]
    assert lake.owned(two).column("message_id").to_pylist() == ["c"]
    # What compaction hands to the projection is the same table, without a second read.
    for path, result in ((one, first), (two, second)):
        assert result.owned_events is not None
        assert result.owned_events.equals(lake.owned(path))


def test_a_batch_compacts_like_one_segment_after_another(tmp_path: Path) -> None:
    one_by_one, batched = _build(tmp_path / "one"), _build(tmp_path / "batch")
    for path in one_by_one.segments:
        one_by_one.compact(path)
    results = compact_segments(
        batched.segments,
        expand=events_table,
        lake_dir=batched.lake,
        index=batched.index,
        corrupt_dir=batched.corrupt,
        row_group_rows=1000,
    )
    assert [r.events_written for r in results] == [2, 3, 1]
    assert [r.duplicates for r in results] == [0, 3, 1]
    assert batched.files() == one_by_one.files()
    one_by_one.index.close()
    batched.index.close()


def test_recompaction_rewrites_identical_files(lake: Lake) -> None:
    one = lake.segment([wal_row("a", "p1"), wal_row("b", "p2"), failed_row("x")])
    two = lake.segment([wal_row("a", "p1"), wal_row("c", "p1", timestamp=at(days=1))])
    lake.compact(one)
    lake.compact(two)
    before = lake.files()
    lake.reopen_index()
    assert lake.compact(one).events_written == 2
    assert lake.compact(two).events_written == 1
    assert lake.files() == before


# -- damaged segments ---------------------------------------------------------------------


def test_a_corrupt_frame_in_the_middle_is_quarantined_and_the_rest_compacted(
    lake: Lake,
) -> None:
    path = lake.segment([wal_row("a"), wal_row("b")], [wal_row("c")], [wal_row("d")])
    data = bytearray(path.read_bytes())
    first, second, _third = _frames(path)
    middle = len(encode_header(WAL_SCHEMA)) + len(first)
    data[middle + 20] ^= 0xFF  # inside the second frame's payload
    path.write_bytes(bytes(data))

    result = lake.compact(path)
    assert (result.events_written, result.corrupt_frames) == (3, 1)
    assert result.corrupt_bytes == len(second)
    (kept,) = result.quarantined
    assert kept == lake.corrupt / f"{segment_id(path)}-{middle}.bin"
    assert kept.read_bytes() == bytes(data[middle : middle + len(second)])
    assert sorted(read_event_ids(lake.lake)) == ["a", "b", "d"]
    # A retry keeps the same quarantine file, not a second copy.
    assert lake.compact(path).quarantined == (kept,)
    assert [p.name for p in lake.corrupt.iterdir()] == [kept.name]


def test_a_damaged_end_of_a_sealed_segment_is_quarantined(lake: Lake) -> None:
    path = lake.segment([wal_row("a")], [wal_row("b")])
    data = path.read_bytes()
    path.write_bytes(data[:-40] + bytes(b ^ 0xFF for b in data[-40:]))
    result = lake.compact(path)
    assert (result.events_written, result.corrupt_frames) == (1, 1)
    assert len(result.quarantined) == 1


def test_a_damaged_header_quarantines_the_whole_segment(lake: Lake) -> None:
    path = lake.segment([wal_row("a")])
    data = path.read_bytes()
    path.write_bytes(b"XX" + data[2:])
    result = lake.compact(path)
    assert (result.rows, result.corrupt_frames, result.corrupt_bytes) == (0, 1, len(data))
    assert result.quarantined[0].read_bytes() == b"XX" + data[2:]
    assert result.files == ()


def _frames(path: Path) -> list[bytes]:
    """The encoded frames of a segment written by the helper (re-encoded from its rows)."""
    return [encode_frame(batch) for batch in read_segment(path).batches]


# -- crashes ----------------------------------------------------------------------------


def _crash_segments() -> list[list[list[Row]]]:
    """Two projects, two days, failed rows, and duplicates of the first segment."""
    return [
        [
            [
                wal_row("a", "p1", event="s1"),
                wal_row("b", "p2", event="s1", timestamp=at(days=-1)),
                failed_row("x", "p1"),
            ]
        ],
        [
            [
                wal_row("a", "p1", event="s2"),
                wal_row("c", "p1", event="s2", timestamp=at(days=-1)),
                wal_row("d", "p2", event="s2"),
                failed_row("x", "p1"),
                failed_row("y", "p2"),
            ],
            [wal_row("c", "p1", event="s2-dup"), wal_row("e", "p1", event="s2")],
        ],
        [[wal_row("d", "p2", event="s3"), wal_row("f", "p1", event="s3")]],
    ]


def _build(root: Path) -> Lake:
    built = Lake(root)
    for frames in _crash_segments():
        built.segment(*frames)
    return built


class Crash(Exception):
    pass


def _crash_points(monkeypatch: pytest.MonkeyPatch, step: int) -> Callable[[], int]:
    """Make the ``step``-th file operation of a compaction fail; returns a step counter."""
    count = 0
    write_temp, publish = compactor_module._write_temp, compactor_module._publish

    def failing_write_temp(table: pa.Table, temp: Path, *args: Any) -> None:
        nonlocal count
        count += 1
        if count == step:  # dies half-way through the temp file
            temp.write_bytes(b"PAR1 torn")
            raise Crash(f"crash while writing {temp.name}")
        write_temp(table, temp, *args)

    def failing_publish(temp: Path, final: Path) -> None:
        nonlocal count
        count += 1
        if count == step:  # dies with a complete temp file not yet renamed
            raise Crash(f"crash before renaming {temp.name}")
        publish(temp, final)

    monkeypatch.setattr(compactor_module, "_write_temp", failing_write_temp)
    monkeypatch.setattr(compactor_module, "_publish", failing_publish)
    return lambda: count


def test_a_crash_at_any_step_of_compaction_converges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _build(tmp_path / "reference")
    for path in reference.segments:
        reference.compact(path)
    expected = reference.files()
    reference.index.close()
    assert all(not name.split("/")[-1].startswith(".") for name in expected)

    # Count the file operations compacting the middle segment takes.
    counter = _build(tmp_path / "count")
    counter.compact(counter.segments[0])
    steps = _crash_points(monkeypatch, step=-1)
    counter.compact(counter.segments[1])
    total_steps = steps()
    counter.index.close()
    monkeypatch.undo()
    assert total_steps == 2 * 4  # a temp write and a rename for each of four files

    for step in range(1, total_steps + 1):
        run = _build(tmp_path / f"crash-{step}")
        run.compact(run.segments[0])
        _crash_points(monkeypatch, step)
        with pytest.raises(Crash):
            run.compact(run.segments[1])
        monkeypatch.undo()
        run.reopen_index()  # the pipeline process restarted
        run.compact(run.segments[1])
        run.compact(run.segments[2])
        assert run.files() == expected, f"crash at step {step}"
        run.index.close()


def test_a_crash_after_the_claim_before_any_file(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = lake.segment([wal_row("a"), wal_row("b")])
    two = lake.segment([wal_row("b"), wal_row("c")])
    _crash_points(monkeypatch, step=1)
    with pytest.raises(Crash):
        lake.compact(one)
    monkeypatch.undo()
    lake.reopen_index()
    # Another segment gets compacted first; it must not take over what `one` claimed.
    assert lake.compact(two).events_written == 1
    assert lake.compact(one).events_written == 2
    assert sorted(read_event_ids(lake.lake)) == ["a", "b", "c"]


def test_leftover_temp_files_are_invisible_to_readers(lake: Lake) -> None:
    path = lake.segment([wal_row("a"), wal_row("b", timestamp=at(days=1))])
    (first, _second) = lake.compact(path).files
    leftover = first.parent / f".{first.name}.tmp"
    leftover.write_bytes(b"PAR1 half a file")
    assert sorted(read_event_ids(lake.lake)) == ["a", "b"]
    count = duckdb.sql(f"SELECT count(*) FROM {duckdb_events_sql(lake.lake)}").fetchall()
    assert count == [(2,)]
    lake.compact(path)  # the retry of a crashed compaction renames over it
    assert not leftover.exists()


# -- readers ----------------------------------------------------------------------------


def test_duckdb_and_pyarrow_read_the_lake_with_typed_partitions(lake: Lake) -> None:
    lake.compact(
        lake.segment(
            [
                wal_row("a", "123", timestamp=at(hours=1)),  # a numeric-looking project id
                wal_row("b", "p2", timestamp=at(days=1)),
                failed_row("x", "p2"),
            ]
        )
    )
    glob = str(lake.lake / "events" / "**" / "*.parquet")
    plain = duckdb.sql(
        f"SELECT project_id, date, message_id FROM read_parquet('{glob}', hive_partitioning=true) "
        "ORDER BY message_id"
    ).fetchall()
    assert [(str(p), d.isoformat(), m) for p, d, m in plain] == [
        ("123", utc_date(at()), "a"),
        ("p2", utc_date(at(days=1)), "b"),
    ]
    typed = duckdb.sql(
        f"SELECT project_id, date, message_id, epoch_us(timestamp) AS ts "
        f"FROM {duckdb_events_sql(lake.lake)} ORDER BY message_id"
    ).fetchall()
    assert typed[0] == ("123", datetime.fromisoformat(utc_date(at())).date(), "a", at(hours=1))
    failed = duckdb.sql(
        f"SELECT project_id, message_id, failure_reason FROM {duckdb_failed_sql(lake.lake)}"
    ).fetchall()
    assert failed == [("p2", "x", "missing_event")]

    dataset = events_dataset(lake.lake)
    assert dataset.schema.field("project_id").type == pa.string()
    assert dataset.schema.field("date").type == pa.date32()
    table = dataset.to_table(filter=ds.field("project_id") == "123")
    assert table.column("message_id").to_pylist() == ["a"]
    generic = ds.dataset(lake.lake / "events", format="parquet", partitioning="hive")
    assert generic.to_table().num_rows == 2


def test_an_empty_lake_reads_as_empty(tmp_path: Path) -> None:
    assert read_event_ids(tmp_path / "lake") == []
    assert events_dataset(tmp_path / "lake").to_table().num_rows == 0
    assert failed_dataset(tmp_path / "lake").to_table().num_rows == 0


# -- the property ---------------------------------------------------------------------------

row_strategy = st.fixed_dictionaries(
    {
        "project": st.sampled_from(["p1", "p2", "p3"]),
        "message": st.sampled_from([f"m{n}" for n in range(8)]),
        "failed": st.booleans(),
        "event_time": st.integers(-3 * DAY_US, 2 * DAY_US),
        "received": st.integers(0, 2 * DAY_US),
    }
)
segment_strategy = st.lists(st.lists(row_strategy, min_size=1, max_size=6), min_size=1, max_size=3)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(segments=st.lists(segment_strategy, min_size=1, max_size=5), data=st.data())
def test_every_owned_message_is_in_the_lake_exactly_once(
    segments: list[list[list[dict[str, Any]]]], data: st.DataObject
) -> None:
    """Random segments with repeated ids (across segments, within one, across projects) and
    random simulated crashes (files deleted, temp files left, recompaction out of order)."""
    with tempfile.TemporaryDirectory() as directory:
        lake = Lake(Path(directory))
        expected_events: dict[tuple[str, str], dict[str, Any]] = {}
        expected_failed: dict[tuple[str, str], dict[str, Any]] = {}
        for number, frames in enumerate(segments):
            rows: list[list[Row]] = []
            for frame_number, frame in enumerate(frames):
                rows.append([])
                for row_number, spec in enumerate(frame):
                    tag = f"s{number}f{frame_number}r{row_number}"
                    key = (spec["project"], spec["message"])
                    received = at() + spec["received"]
                    if spec["failed"]:
                        expected_failed.setdefault(key, {"tag": tag, "day": utc_date(received)})
                        rows[-1].append(
                            failed_row(spec["message"], spec["project"], received_at=received,
                                       failure_detail=tag)
                        )  # fmt: skip
                    else:
                        event_time = at() + spec["event_time"]
                        expected_events.setdefault(key, {"tag": tag, "day": utc_date(event_time)})
                        rows[-1].append(
                            wal_row(spec["message"], spec["project"], event=tag,
                                    timestamp=event_time, received_at=received)
                        )  # fmt: skip
            path = lake.segment(*rows)
            lake.compact(path)
            _simulate_crashes(lake, data)

        events = lake.events()
        assert Counter((r["project_id"], r["message_id"]) for r in events) == Counter(
            expected_events.keys()
        )
        for row in events:
            key = (row["project_id"], row["message_id"])
            assert row["event"] == expected_events[key]["tag"]
            assert row["date"].isoformat() == expected_events[key]["day"]
        failed = lake.failed()
        assert Counter((r["project_id"], r["message_id"]) for r in failed) == Counter(
            expected_failed.keys()
        )
        for row in failed:
            key = (row["project_id"], row["message_id"])
            assert row["failure_detail"] == expected_failed[key]["tag"]
            assert row["date"].isoformat() == expected_failed[key]["day"]
        # The projector's view agrees with the lake.
        owned = [
            (r["project_id"], r["message_id"])
            for path in lake.segments
            for r in lake.owned(path).to_pylist()
        ]
        assert sorted(owned) == sorted(expected_events)
        lake.index.close()


def _simulate_crashes(lake: Lake, data: st.DataObject) -> None:
    """Maybe damage the lake the way a crash mid-compaction could, then compact again."""
    for _ in range(data.draw(st.integers(0, 2), label="crashes")):
        victim = data.draw(st.sampled_from(lake.segments), label="segment")
        name = segment_id(victim)
        files = sorted(lake.lake.rglob(f"part-{name}.parquet"))
        how = data.draw(st.sampled_from(["delete", "temp", "reopen"]), label="how")
        if how == "delete" and files:
            for file in data.draw(st.lists(st.sampled_from(files), unique=True), label="lost"):
                file.unlink()
        elif how == "temp" and files:
            file = data.draw(st.sampled_from(files), label="torn")
            (file.parent / f".{file.name}.tmp").write_bytes(b"PAR1 torn")
        else:
            lake.reopen_index()
        lake.compact(victim)
