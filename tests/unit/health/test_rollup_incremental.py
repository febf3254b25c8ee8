"""Rolling a lake up per file, across rounds of new files, merges and rewrites, gives exactly
what one rollup of the final lake from nothing gives, and reads only what it must."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cxloop.health import rollup
from cxloop.health.rollup import DAY_SUM, DETAIL_STORE, ROLLUP_STORES, _build, lake_partitions
from cxloop.lake import merge_files, merged_name, partition_dir, rewrite_file
from cxloop.wal import EVENT_LAKE_SCHEMA

DAY = date(2026, 11, 20)
DAYS = [DAY - timedelta(days=1), DAY]


def _events(day: date, first: int, n: int) -> pa.Table:
    at = int(datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp() * 1e6)
    rows: list[dict[str, Any]] = []
    for i in range(first, first + n):
        user = i % 13
        kind = ("track", "page", "track", "identify", "screen")[i % 5]
        rows.append(
            {
                "message_id": f"{day}-{i}",
                "type": kind,
                "event": "Survey Responded" if i % 17 == 0 else f"Used {i % 4}",
                # every 7th event is anonymous; users 0-2 never send a group (membership)
                "user_id": None if i % 7 == 0 else f"u{user}",
                "anonymous_id": f"anon{user}",
                "group_id": None if user < 3 or i % 9 == 0 else f"acct_{user % 4}",
                "timestamp": at + i,
                "received_at": at + i,
                "properties": json.dumps({"feature": f"f{i % 3}"}) if i % 2 else None,
            }
        )
    columns = {f.name: [r.get(f.name) for r in rows] for f in EVENT_LAKE_SCHEMA}
    return pa.table(columns, schema=EVENT_LAKE_SCHEMA)


class _Lake:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.next = 0

    def directory(self, day: date) -> Path:
        return partition_dir(self.root, "events", "p1", day)

    def add(self, day: date, n: int) -> Path:
        directory = self.directory(day)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"part-0-{1_000_000 + self.next}.parquet"
        pq.write_table(_events(day, self.next, n), path)
        self.next += n
        return path

    def merge(self, day: date, names: list[str] | None = None) -> Path:
        directory = self.directory(day)
        sources = sorted(directory / n for n in names) if names else sorted(directory.glob("*"))
        target = directory / merged_name(p.name for p in sources)
        merge_files(sources, target)
        return target


def _members(*pairs: tuple[str, str]) -> pa.Table:
    return pa.table(
        {"user_id": [u for u, _ in pairs], "account_id": [a for _, a in pairs]},
        schema=pa.schema([("user_id", pa.string()), ("account_id", pa.string())]),
    )


def _stores(root: Path) -> dict[str, list[tuple[str, ...]]]:
    out = {}
    for store in ("usage_feature", "usage_user"):
        table = pq.read_table(root / "rollups" / store, partitioning="hive")
        out[store] = sorted(tuple(str(v) for v in row.values()) for row in table.to_pylist())
    return out


def _from_scratch(lake: Path, scratch: Path, members: pa.Table) -> dict[str, Any]:
    shutil.copytree(lake / "events", scratch / "events")
    partitions = lake_partitions(scratch)["p1"]
    _build(scratch, "p1", partitions, members, frozenset(p.day for p in partitions))
    return _stores(scratch)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lake files each build reads (rather than deriving their details)."""
    seen: list[str] = []
    original = rollup._read_details

    def spy(db: Any, location: Any, missing: list[tuple[Any, str]]) -> list[Any]:
        vanished = original(db, location, missing)
        seen.extend(lake.name for lake, _ in missing if lake not in vanished)
        return vanished

    monkeypatch.setattr(rollup, "_read_details", spy)
    return seen


def _roll(lake: _Lake, members: pa.Table, first: bool = False) -> dict[date, int]:
    partitions = lake_partitions(lake.root)["p1"]
    forgotten = frozenset(p.day for p in partitions) if first else frozenset()
    return _build(lake.root, "p1", partitions, members, forgotten)


def test_rounds_with_merges_equal_a_rollup_from_nothing(tmp_path: Path, reads: list[str]) -> None:
    lake = _Lake(tmp_path / "lake")
    members = _members(("u0", "acct_0"), ("u1", "acct_1"))
    a = lake.add(DAY, 40)
    b = lake.add(DAY, 25)
    lake.add(DAYS[0], 30)
    _roll(lake, members, first=True)
    assert len(reads) == 3

    # Round 2: new files; today's first two are merged (their details are summed, not read).
    reads.clear()
    c = lake.add(DAY, 33)
    merged = lake.merge(DAY, [a.name, b.name])
    _roll(lake, members)
    assert reads == [c.name]
    assert _stores(lake.root) == _from_scratch(lake.root, tmp_path / "s2", members)

    # Round 3: u2 joins acct_2 (its events without a group follow it, old files' too); two
    # merges, one of them of a merged file and a file never rolled up (read), and a privacy
    # style rewrite of a yesterday file in place (a new identity: read again).
    reads.clear()
    members = _members(("u0", "acct_0"), ("u1", "acct_1"), ("u2", "acct_2"))
    d = lake.add(DAY, 21)
    second = lake.merge(DAY, [merged.name, d.name])
    old = next(lake.directory(DAYS[0]).glob("*.parquet"))
    rewrite_file(old, lambda t: pc.not_equal(t["user_id"], "u4"))
    e = lake.add(DAYS[0], 12)
    counts = _roll(lake, members)
    assert sorted(reads) == sorted([second.name, old.name, e.name])
    expected = _from_scratch(lake.root, tmp_path / "s3", members)
    assert _stores(lake.root) == expected
    assert any(row[0] == "acct_2" for row in expected["usage_user"])
    assert sum(counts.values()) == sum(int(row[2]) for row in expected["usage_user"])

    # Round 4: a merge of files that were all rolled up before (c, the second merge): derived.
    reads.clear()
    third = lake.merge(DAY)
    _roll(lake, members)
    assert reads == []
    assert _stores(lake.root) == _from_scratch(lake.root, tmp_path / "s4", members)
    # One detail per lake file, none left of the files merged away.
    for day in DAYS:
        details = partition_dir(lake.root / "rollups", DETAIL_STORE, "p1", day)
        stems = sorted(p.name.split(".", 1)[0] for p in details.glob("part-*.parquet"))
        assert (details / DAY_SUM).exists()
        assert stems == sorted(p.stem for p in lake.directory(day).glob("*.parquet"))
    assert [p.name for p in lake.directory(DAY).glob("*.parquet")] == [third.name]
    assert not list((lake.root / "rollups").glob(".staging-*"))


def test_a_forgotten_day_starts_from_no_detail(tmp_path: Path, reads: list[str]) -> None:
    """An erasure drops the day's rollup state: details from before are not trusted."""
    lake = _Lake(tmp_path / "lake")
    members = _members()
    lake.add(DAY, 30)
    _roll(lake, members, first=True)
    details = partition_dir(lake.root / "rollups", DETAIL_STORE, "p1", DAY)
    planted = details / "part-0-999.0000000000000000.parquet"  # a leftover no file explains
    shutil.copy(next(details.glob("*.parquet")), planted)
    reads.clear()
    _roll(lake, members, first=True)
    assert len(reads) == 1 and not planted.exists()
    assert _stores(lake.root) == _from_scratch(lake.root, tmp_path / "s", members)


def test_detail_store_is_a_rollup_store() -> None:
    # Privacy scans and recomputes every rollup store, retention removes them: the per-file
    # details name users and accounts like the others.
    assert DETAIL_STORE in ROLLUP_STORES
    assert {"usage_feature", "usage_user"} <= set(ROLLUP_STORES)


def test_details_of_days_gone_from_the_lake_are_pruned(tmp_path: Path) -> None:
    lake = _Lake(tmp_path / "lake")
    lake.add(DAYS[0], 10)
    lake.add(DAY, 10)
    _roll(lake, _members(), first=True)
    shutil.rmtree(lake.directory(DAYS[0]))  # retention, keeping the rollups
    assert rollup.prune_details(lake.root, "p1") == 1
    details = partition_dir(lake.root / "rollups", DETAIL_STORE, "p1", DAYS[0])
    assert not details.exists()
    assert partition_dir(lake.root / "rollups", "usage_user", "p1", DAYS[0]).is_dir()
    assert partition_dir(lake.root / "rollups", DETAIL_STORE, "p1", DAY).is_dir()


def test_files_merged_away_while_listed_are_followed(
    tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge swap between listing and reading: the rollup lists the days again and reads
    what replaced the files it missed, keeping every detail it made; past ``RELISTS`` it
    says so (its caller lists again), and the next attempt reads only what is new."""
    lake = _Lake(tmp_path / "lake")
    members = _members(("u0", "acct_0"))
    a, b = lake.add(DAY, 20), lake.add(DAY, 20)
    c = lake.add(DAYS[0], 20)
    stale = lake_partitions(lake.root)["p1"]
    merged = lake.merge(DAY, [a.name, b.name])
    _build(lake.root, "p1", stale, members, frozenset(p.day for p in stale))
    assert sorted(reads) == sorted([c.name, merged.name])
    assert _stores(lake.root) == _from_scratch(lake.root, tmp_path / "s1", members)

    monkeypatch.setattr(rollup, "RELISTS", 1)
    d, e = lake.add(DAY, 20), lake.add(DAYS[0], 20)
    stale = lake_partitions(lake.root)["p1"]
    again = lake.merge(DAY, [merged.name, d.name])
    reads.clear()
    with pytest.raises(rollup.LakeChanged):
        _build(lake.root, "p1", stale, members)
    assert reads == [e.name]
    reads.clear()
    _roll(lake, members)
    assert reads == [again.name]  # e's detail was kept
    assert _stores(lake.root) == _from_scratch(lake.root, tmp_path / "s2", members)
