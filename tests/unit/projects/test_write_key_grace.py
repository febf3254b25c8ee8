"""A rotated write key in the in-memory cache: it resolves during its grace period and is
refused by the cache itself once the period has passed (an injected wall clock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cxloop.projects import WriteKeyCache


class GracePool:
    """Answers the cache's queries: current keys, and retired keys with their valid_until.

    Like PostgreSQL, it leaves out retired keys whose grace has passed by ``now``.
    """

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.current: dict[str, str] = {}
        self.retired: dict[str, tuple[str, float]] = {}
        self.queries = 0

    def _rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {"write_key": key, "id": project, "valid_until": None}
            for key, project in self.current.items()
        ]
        rows += [
            {"write_key": key, "id": project, "valid_until": until}
            for key, (project, until) in self.retired.items()
            if until > self.now[0]
        ]
        return rows

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        self.queries += 1
        return self._rows()

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        self.queries += 1
        for row in self._rows():
            if row["write_key"] == args[0]:
                return {"id": row["id"], "valid_until": row["valid_until"]}
        return None

    def rotate(self, project: str, old: str, new: str, grace_s: float) -> None:
        del self.current[old]
        self.current[new] = project
        self.retired[old] = (project, self.now[0] + grace_s)


async def test_a_retired_key_resolves_during_its_grace_and_not_after() -> None:
    now = [1_000_000.0]
    pool = GracePool(now)
    pool.current["wk_old"] = "prj_a"
    cache = WriteKeyCache(None, wall_clock=lambda: now[0])
    await cache.refresh(pool)
    pool.rotate("prj_a", "wk_old", "wk_new", grace_s=60)
    await cache.refresh(pool)

    assert cache.resolve("wk_old") == "prj_a"
    assert cache.resolve("wk_new") == "prj_a"
    assert cache.valid_until("wk_old") == 1_000_060.0
    assert cache.valid_until("wk_new") is None

    now[0] += 59.9
    assert cache.resolve("wk_old") == "prj_a"
    # The grace ends: refused from memory, with no refresh in between and no query on a miss.
    now[0] += 0.2
    queries = pool.queries
    assert cache.resolve("wk_old") is None
    assert await cache.lookup_miss(pool, "wk_old") is None
    assert pool.queries == queries
    assert cache.resolve("wk_new") == "prj_a"
    # The next refresh drops the key altogether.
    await cache.refresh(pool)
    assert cache.valid_until("wk_old") is None
    assert await cache.lookup_miss(pool, "wk_old") is None


async def test_a_retired_key_found_by_a_miss_keeps_its_grace_end() -> None:
    now = [500.0]
    pool = GracePool(now)
    pool.current["wk_new"] = "prj_a"
    pool.retired["wk_old"] = ("prj_a", 510.0)
    cache = WriteKeyCache(None, wall_clock=lambda: now[0])
    assert await cache.lookup_miss(pool, "wk_old") == "prj_a"
    assert cache.resolve("wk_old") == "prj_a"
    now[0] = 510.0
    assert cache.resolve("wk_old") is None


async def test_a_revocation_reaches_the_cache_at_the_next_refresh() -> None:
    now = [0.0]
    pool = GracePool(now)
    pool.current["wk_new"] = "prj_a"
    pool.retired["wk_old"] = ("prj_a", 3600.0)
    cache = WriteKeyCache(None, wall_clock=lambda: now[0])
    await cache.refresh(pool)
    assert cache.resolve("wk_old") == "prj_a"
    pool.retired["wk_old"] = ("prj_a", now[0])  # revoke-retired: valid_until = now
    await cache.refresh(pool)
    assert cache.resolve("wk_old") is None


async def test_the_key_file_keeps_grace_ends_across_a_restart(tmp_path: Path) -> None:
    now = [100.0]
    path = tmp_path / "state" / "write_keys.json"
    pool = GracePool(now)
    pool.current["wk_new"] = "prj_a"
    pool.retired["wk_old"] = ("prj_a", 200.0)
    await WriteKeyCache(path, wall_clock=lambda: now[0]).refresh(pool)
    saved = json.loads(path.read_text())
    assert saved["keys"] == {"wk_new": "prj_a", "wk_old": "prj_a"}
    assert saved["valid_until"] == {"wk_old": 200.0}

    # A restart while PostgreSQL is down: the file alone still ends the grace on time.
    restarted = WriteKeyCache(path, wall_clock=lambda: now[0])
    assert restarted.resolve("wk_old") == "prj_a"
    now[0] = 200.5
    assert restarted.resolve("wk_old") is None
    assert restarted.resolve("wk_new") == "prj_a"


def test_a_key_file_of_the_first_format_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "write_keys.json"
    path.write_text(json.dumps({"version": 1, "keys": {"wk_a": "prj_a"}}))
    cache = WriteKeyCache(path)
    assert cache.resolve("wk_a") == "prj_a"
    assert cache.valid_until("wk_a") is None
