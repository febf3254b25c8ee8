"""The retention sweep without a database: which partitions go, when, and how."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from cxloop.lake import partition_dir
from cxloop.ops import Registry
from cxloop.privacy import RetentionSweep
from cxloop.privacy.retention import expired_partitions
from cxloop.settings import Settings

TODAY = date(2026, 6, 30)


class FakePool:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.fetches = 0
        self.executed: list[tuple[Any, ...]] = []

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        self.fetches += 1
        return self.rows

    async def execute(self, query: str, *args: Any) -> str:
        self.executed.append(args)
        return "DELETE"


class FakeDatabase:
    def __init__(self, pool: FakePool | None) -> None:
        self.pool = pool


def _partition(root: Path, store: str, project: str, day: date) -> Path:
    directory = partition_dir(root, store, project, day)
    directory.mkdir(parents=True)
    (directory / "part-1.parquet").write_bytes(b"x")
    return directory


def test_expired_partitions_are_those_before_the_cutoff(tmp_path: Path) -> None:
    for day in (date(2026, 5, 30), date(2026, 5, 31), date(2026, 6, 1)):
        _partition(tmp_path, "events", "p", day)
    (partition_dir(tmp_path, "events", "p", TODAY).parent / "date=garbage").mkdir()
    found = expired_partitions(
        partition_dir(tmp_path, "events", "p", TODAY).parent, date(2026, 5, 31)
    )
    assert [day for day, _ in found] == [date(2026, 5, 30)]
    assert expired_partitions(tmp_path / "missing", TODAY) == []


async def test_the_sweep_removes_old_days_of_its_projects_once_per_interval(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, retention_interval_s=3600)
    lake = settings.lake_dir
    old, kept = date(2026, 5, 1), date(2026, 6, 20)  # 60 and 10 days before TODAY
    paths = {
        "events_old": _partition(lake, "events", "p", old),
        "events_kept": _partition(lake, "events", "p", kept),
        "failed_old": _partition(lake, "failed", "p", old),
        "rollup_old": _partition(lake / "rollups", "usage_user", "p", old),
        "other_project": _partition(lake, "events", "q", old),
        "kept_rollup": _partition(lake / "rollups", "usage_feature", "r", old),
        "r_old": _partition(lake, "events", "r", old),
    }
    pool = FakePool([
        {"project_id": "p", "retention_days": 30, "keep_rollups": False},
        {"project_id": "r", "retention_days": 30, "keep_rollups": True},
    ])  # fmt: skip
    sweep = RetentionSweep(settings, Registry(), today=lambda: TODAY)
    assert await sweep.step(FakeDatabase(None)) == 0  # PostgreSQL down: nothing, no error
    assert await sweep.step(FakeDatabase(pool)) == 4  # type: ignore[arg-type]
    gone = {name for name, path in paths.items() if not path.exists()}
    assert gone == {"events_old", "failed_old", "rollup_old", "r_old"}
    assert paths["other_project"].exists() and paths["kept_rollup"].exists()
    assert pool.executed == [("p", [old])]  # the dropped rollup days' signatures
    assert list((lake / ".trash").iterdir()) == []
    assert sweep.removed.values == {("events",): 2, ("failed",): 1, ("rollups",): 1}
    # Within the interval: PostgreSQL is not even asked.
    assert await sweep.step(FakeDatabase(pool)) == 0  # type: ignore[arg-type]
    assert pool.fetches == 1
