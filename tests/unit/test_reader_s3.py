"""The lake's readers give the same answers on an S3 lake (moto's real S3 API) as on a local
one holding the same files, and skip a merge's sources while its result is listed beside them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxloop.lake import (
    LakeLocation,
    attach,
    duckdb_events_sql,
    duckdb_failed_sql,
    events_dataset,
    failed_dataset,
    merge_files,
    merged_name,
    partition_dir,
    project_partitions,
    read_event_ids,
)
from cxloop.wal import EVENT_LAKE_SCHEMA, FAILED_LAKE_SCHEMA
from tests.helpers.s3 import S3Server, s3_server

DAYS = [date(2026, 11, 20), date(2026, 11, 21)]
PROJECTS = ["p1", "odd/id 2"]  # a project id that must be %-encoded in the path


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def _events(day: date, first: int, n: int) -> pa.Table:
    at = int(datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp() * 1e6)
    ids = range(first, first + n)
    columns = {f.name: pa.nulls(n, f.type) for f in EVENT_LAKE_SCHEMA}
    columns["message_id"] = pa.array([f"{day}-{i}" for i in ids])
    columns["type"] = pa.array([("track", "page", "identify")[i % 3] for i in ids])
    stamps = pa.array([at + i for i in ids], pa.int64())
    columns["timestamp"] = stamps.cast(EVENT_LAKE_SCHEMA.field("timestamp").type)
    columns["received_at"] = stamps.cast(EVENT_LAKE_SCHEMA.field("received_at").type)
    return pa.table(columns, schema=EVENT_LAKE_SCHEMA)


def _failed(n: int) -> pa.Table:
    columns = {f.name: pa.nulls(n, f.type) for f in FAILED_LAKE_SCHEMA}
    columns["message_id"] = pa.array([f"bad-{i}" for i in range(n)])
    columns["received_at"] = pa.array([0] * n, pa.int64()).cast(
        FAILED_LAKE_SCHEMA.field("received_at").type
    )
    columns["failure_reason"] = pa.array(["invalid"] * n)
    return pa.table(columns, schema=FAILED_LAKE_SCHEMA)


@pytest.fixture(scope="module")
def lakes(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[LakeLocation, ...]:
    """A local lake, and an S3 lake with the same files plus, in one partition, the sources of
    a merge whose result is already there (between its PUT and its DELETEs)."""
    root = tmp_path_factory.mktemp("lake")
    local = LakeLocation.directory(root)
    remote = LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)

    def upload(path: Path) -> None:
        with remote.fs.open_output_stream(remote.path(str(path.relative_to(root)))) as out:
            out.write(path.read_bytes())

    first = 0
    for project in PROJECTS:
        for day in DAYS:
            directory = partition_dir(root, "events", project, day)
            directory.mkdir(parents=True)
            for _ in range(3):
                path = directory / f"part-0-{1_000_000 + first}.parquet"
                pq.write_table(_events(day, first, 40), path)
                first += 40
                upload(path)
        failed = partition_dir(root, "failed", project, DAYS[0])
        failed.mkdir(parents=True)
        pq.write_table(_failed(7), failed / "part-0-1.parquet")
        upload(failed / "part-0-1.parquet")
    directory = partition_dir(root, "events", "p1", DAYS[1])
    sources = sorted(directory.glob("*.parquet"))[:2]
    target = directory / merged_name(p.name for p in sources)
    merge_files(sources, target)  # locally a swap; on S3 the sources stay listed
    upload(target)
    return local, remote


def test_datasets_and_ids_are_the_same(lakes: tuple[LakeLocation, ...]) -> None:
    local, remote = lakes
    for project in PROJECTS:
        ids = read_event_ids(local, project)
        assert len(ids) == 2 * 3 * 40
        assert sorted(read_event_ids(remote, project)) == sorted(ids)
    tables = [events_dataset(lake).to_table().sort_by("message_id") for lake in lakes]
    assert tables[1].equals(tables[0])
    assert set(tables[1]["project_id"].to_pylist()) == set(PROJECTS)
    failed = [failed_dataset(lake).to_table() for lake in lakes]
    assert failed[0].num_rows == failed[1].num_rows == 14


def test_duckdb_reads_the_live_files(lakes: tuple[LakeLocation, ...]) -> None:
    query = "SELECT project_id, date, type, count(*) FROM {} GROUP BY ALL ORDER BY ALL"
    answers = []
    for lake in lakes:
        with duckdb.connect() as db:
            attach(db, lake)
            answers.append(db.execute(query.format(duckdb_events_sql(lake))).fetchall())
            failed = db.execute(f"SELECT count(*) FROM {duckdb_failed_sql(lake)}").fetchall()
            assert failed == [(14,)]
    assert answers[1] == answers[0]
    assert sum(n for *_, n in answers[0]) == 2 * 2 * 3 * 40


def test_partitions_list_the_same_files(lakes: tuple[LakeLocation, ...]) -> None:
    def shape(lake: LakeLocation) -> dict[str, dict[date, list[tuple[str, int]]]]:
        return {
            project: {day: [(f.name, f.size) for f in files] for day, files in days.items()}
            for project, days in project_partitions(lake, "events").items()
        }

    assert shape(lakes[1]) == shape(lakes[0])
    one = project_partitions(lakes[1], "events", "odd/id 2")
    assert list(one) == ["odd/id 2"] and sorted(one["odd/id 2"]) == DAYS
    assert project_partitions(lakes[1], "events", "nobody") == {}
