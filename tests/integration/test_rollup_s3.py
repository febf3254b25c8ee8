"""The same events in a local lake and in an S3 lake (moto's real S3 API) give identical rollup
stores and identical health scores, round by round: new files, a merge caught between its PUT
and its DELETEs, the merge finished, and an erasure that rewrote a file in place.

New files go to S3 as the exact bytes of their local twins; the interrupted merge is made by
hand (the local merge's result PUT beside its sources), then finished by ``finish_merges``; the
later merge and the erasure are the lake's own object-store writers (``merge_objects``,
``rewrite_file`` with a location)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cxloop.health import rollup
from cxloop.health.rollup import DAY_SUM, DETAIL_STORE
from cxloop.health.service import refresh_project
from cxloop.lake import (
    LakeLocation,
    finish_merges,
    merge_files,
    merge_objects,
    merged_name,
    partition_dir,
    rewrite_file,
)
from cxloop.wal import EVENT_LAKE_SCHEMA
from tests.helpers.s3 import S3Server, s3_server

AS_OF = date(2026, 11, 22)
DAYS = [AS_OF - timedelta(days=n) for n in (9, 3, 1)]
LOCAL, REMOTE = "p-local", "p-s3"  # one project per lake, the same events in each


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def _events(day: date, first: int, n: int) -> pa.Table:
    at = int(datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp() * 1e6)
    rows: list[dict[str, Any]] = []
    for i in range(first, first + n):
        user = i % 23
        kind = ("track", "page", "track", "identify", "screen", "track")[i % 6]
        rows.append(
            {
                "message_id": f"{day}-{i}",
                "type": kind,
                "event": "Survey Responded" if i % 17 == 0 else f"Used {i % 5}",
                "user_id": None if i % 7 == 0 else f"u{user}",
                "anonymous_id": f"anon{user}",
                # users 0-4 never send a group of their own: their current account attributes
                "group_id": None if user < 5 or i % 11 == 0 else f"acct_{user % 6}",
                "timestamp": at + i,
                "received_at": at + i,
                "properties": json.dumps({"feature": f"f{i % 4}"}) if i % 2 else None,
            }
        )
    columns = {f.name: [r.get(f.name) for r in rows] for f in EVENT_LAKE_SCHEMA}
    return pa.table(columns, schema=EVENT_LAKE_SCHEMA)


class _Twins:
    """A local lake (project LOCAL) and an S3 lake (project REMOTE) holding the same files."""

    def __init__(self, root: Path, s3: S3Server) -> None:
        self.local = LakeLocation.directory(root)
        self.remote = LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)
        self.next = 0

    def _dir(self, day: date) -> Path:
        assert self.local.local is not None
        return partition_dir(self.local.local, "events", LOCAL, day)

    def _key(self, day: date, name: str) -> str:
        return self.remote.path(str(partition_dir(Path(), "events", REMOTE, day)), name)

    def _upload(self, day: date, path: Path) -> None:
        with self.remote.fs.open_output_stream(self._key(day, path.name)) as out:
            out.write(path.read_bytes())

    def add(self, day: date, n: int) -> str:
        directory = self._dir(day)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"part-0-{1_000_000 + self.next}.parquet"
        pq.write_table(_events(day, self.next, n), path)
        self.next += n
        self._upload(day, path)
        return path.name

    def merge(self, day: date, names: list[str]) -> str:
        """Merged locally (a directory swap); on S3 only PUT so far: its sources stay listed."""
        sources = sorted(self._dir(day) / name for name in names)
        target = self._dir(day) / merged_name(names)
        merge_files(sources, target)  # the sources leave the local directory with it
        self._upload(day, target)
        return target.name

    def finish_merges(self, day: date) -> int:
        return finish_merges(self.remote, str(partition_dir(Path(), "events", REMOTE, day)))

    def merge_both(self, day: date, names: list[str]) -> str:
        """Each lake's own merge: a directory swap here, PUT then DELETEs there."""
        target = merged_name(names)
        merge_files(sorted(self._dir(day) / n for n in names), self._dir(day) / target)
        keys = [self._key(day, n) for n in names]
        merge_objects(self.remote, keys, self._key(day, target))
        return target

    def erase_user(self, day: date, name: str, user_id: str) -> None:
        def keep(table: pa.Table) -> pa.ChunkedArray:
            return pc.invert(pc.equal(table["user_id"], user_id))

        rewrite_file(self._dir(day) / name, keep)
        rewrite_file(self._key(day, name), keep, location=self.remote)  # a PUT over its key


def _store(location: LakeLocation, store: str, project_id: str) -> list[tuple[str, ...]]:
    directory = location.path(f"rollups/{store}/project_id={project_id}")
    table = pq.read_table(directory, filesystem=location.fs, partitioning="hive")
    return sorted(tuple(repr(v) for v in row.values()) for row in table.to_pylist())


def _schema(location: LakeLocation, store: str, project_id: str, day: date) -> pa.Schema:
    key = location.path(f"rollups/{store}/project_id={project_id}/date={day}", "part-0.parquet")
    return pq.read_schema(key, filesystem=location.fs).remove_metadata()


def _day_sums(location: LakeLocation, project_id: str) -> dict[date, list[tuple[str, ...]]]:
    out = {}
    for day in DAYS:
        key = location.path(f"rollups/{DETAIL_STORE}/project_id={project_id}/date={day}", DAY_SUM)
        table = pq.read_table(key, filesystem=location.fs)
        out[day] = sorted(tuple(repr(v) for v in row.values()) for row in table.to_pylist())
    return out


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[bool, list[str]]:
    """The lake files each rollup reads (rather than deriving their details), by whether the
    lake is local."""
    seen: dict[bool, list[str]] = {True: [], False: []}
    original = rollup._read_details

    def spy(db: Any, location: LakeLocation, missing: list[tuple[Any, str]]) -> list[Any]:
        vanished = original(db, location, missing)
        seen[location.is_local].extend(f.name for f, _ in missing if f not in vanished)
        return vanished

    monkeypatch.setattr(rollup, "_read_details", spy)
    return seen


_SNAPSHOTS = """
SELECT account_id, score, band, confidence, change, components::text, drivers::text
FROM health_snapshots WHERE project_id = $1 AND day = $2 ORDER BY account_id
"""


async def _refresh_and_compare(conn: asyncpg.Connection, twins: _Twins) -> None:
    local = await refresh_project(conn, twins.local, LOCAL, AS_OF, notify=False)
    remote = await refresh_project(conn, twins.remote, REMOTE, AS_OF, notify=False)
    assert local.rollup is not None and remote.rollup is not None
    assert (remote.rollup.partitions, remote.rollup.events) == (
        local.rollup.partitions,
        local.rollup.events,
    )
    assert local.accounts == remote.accounts > 0
    for store in ("usage_feature", "usage_user"):
        assert _store(twins.remote, store, REMOTE) == _store(twins.local, store, LOCAL)
        for day in DAYS:
            assert _schema(twins.remote, store, REMOTE, day) == _schema(
                twins.local, store, LOCAL, day
            )
    assert _day_sums(twins.remote, REMOTE) == _day_sums(twins.local, LOCAL)
    snapshots = [await conn.fetch(_SNAPSHOTS, p, AS_OF) for p in (LOCAL, REMOTE)]
    assert [tuple(r) for r in snapshots[1]] == [tuple(r) for r in snapshots[0]]


async def test_an_s3_lake_rolls_up_and_scores_as_a_local_one(
    conn: asyncpg.Connection, s3: S3Server, tmp_path: Path, reads: dict[bool, list[str]]
) -> None:
    seen = datetime(2026, 11, 1, tzinfo=UTC)
    for project in (LOCAL, REMOTE):
        await conn.executemany(
            "INSERT INTO memberships (project_id, user_id, account_id, first_seen_at, "
            "last_seen_at, last_group_call_at) VALUES ($1, $2, $3, $4, $4, $4)",
            [(project, f"u{u}", f"acct_{u % 3}", seen) for u in range(5)],
        )
    twins = _Twins(tmp_path / "lake", s3)
    first = {day: [twins.add(day, 60), twins.add(day, 35)] for day in DAYS}
    await _refresh_and_compare(conn, twins)

    # New files, and a merge the S3 lake shows between its PUT and its DELETEs.
    for day in DAYS[1:]:
        twins.add(day, 25)
    merged = twins.merge(DAYS[1], first[DAYS[1]])
    reads[True].clear()
    reads[False].clear()
    await _refresh_and_compare(conn, twins)
    # Its sources are skipped, and its detail is their sum: it is not read, here or there.
    assert merged not in reads[True] + reads[False]
    assert sorted(reads[False]) == sorted(reads[True]) and len(reads[True]) == 2

    # The merge finished; another merge; an erasure rewrote files in place (its days' rollup
    # state dropped, as the privacy job does).
    assert twins.finish_merges(DAYS[1]) == 2
    twins.merge_both(DAYS[0], first[DAYS[0]])
    twins.add(DAYS[2], 10)
    twins.erase_user(DAYS[1], merged, "u3")
    twins.erase_user(DAYS[2], first[DAYS[2]][0], "u8")
    await conn.execute(
        "DELETE FROM rollup_partitions WHERE day = any($1::date[])", [DAYS[1], DAYS[2]]
    )
    await _refresh_and_compare(conn, twins)
