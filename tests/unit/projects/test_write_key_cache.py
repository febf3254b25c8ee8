"""The write key cache without a database: a fake pool counts and controls the queries."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from cxloop.projects import WriteKeyCache, hash_secret_key


class FakePool:
    """Answers the cache's two queries from a dict; ``down`` makes every query fail."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.down = False
        self.queries = 0
        self.delay = 0.0

    async def fetch(self, query: str, *args: Any) -> list[dict[str, str]]:
        self._check()
        return [{"write_key": k, "id": v, "valid_until": None} for k, v in self.keys.items()]

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        self._check()
        await asyncio.sleep(self.delay)
        project_id = self.keys.get(args[0])
        return None if project_id is None else {"id": project_id, "valid_until": None}

    def _check(self) -> None:
        self.queries += 1
        if self.down:
            raise ConnectionRefusedError("database down")


async def test_refresh_persists_and_a_new_instance_loads(tmp_path: Path) -> None:
    path = tmp_path / "state" / "write_keys.json"
    pool = FakePool({"wk_a": "prj_a", "wk_b": "prj_b"})
    cache = WriteKeyCache(path)
    assert await cache.refresh(pool) == 2
    assert json.loads(path.read_text())["keys"] == {"wk_a": "prj_a", "wk_b": "prj_b"}
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temp files left

    restarted = WriteKeyCache(path)
    assert restarted.resolve("wk_a") == "prj_a"
    pool.down = True
    with pytest.raises(OSError):
        await restarted.refresh(pool)
    assert restarted.resolve("wk_b") == "prj_b"


async def test_removed_project_drops_out_on_refresh(tmp_path: Path) -> None:
    pool = FakePool({"wk_a": "prj_a", "wk_b": "prj_b"})
    cache = WriteKeyCache(tmp_path / "keys.json")
    await cache.refresh(pool)
    del pool.keys["wk_b"]
    await cache.refresh(pool)
    assert cache.resolve("wk_b") is None
    assert WriteKeyCache(tmp_path / "keys.json").resolve("wk_b") is None


async def test_concurrent_misses_share_one_query() -> None:
    pool = FakePool({"wk_new": "prj_new"})
    pool.delay = 0.05
    cache = WriteKeyCache(None)
    lookups = [cache.lookup_miss(pool, "wk_new") for _ in range(20)]
    results = await asyncio.gather(*lookups)
    assert results == ["prj_new"] * 20
    assert pool.queries == 1
    assert cache.resolve("wk_new") == "prj_new"


async def test_negative_cache_expires_and_is_bounded() -> None:
    now = [0.0]
    pool = FakePool({})
    cache = WriteKeyCache(None, negative_ttl_s=10, max_negative_entries=3, clock=lambda: now[0])
    for key in ["wk_1", "wk_2", "wk_3", "wk_4"]:
        assert await cache.lookup_miss(pool, key) is None
    assert pool.queries == 4
    assert await cache.lookup_miss(pool, "wk_4") is None
    assert pool.queries == 4
    assert await cache.lookup_miss(pool, "wk_1") is None  # evicted: the oldest entry
    assert pool.queries == 5
    now[0] = 11.0
    assert await cache.lookup_miss(pool, "wk_4") is None
    assert pool.queries == 6


async def test_errors_are_not_cached_as_unknown() -> None:
    pool = FakePool({"wk_a": "prj_a"})
    pool.down = True
    cache = WriteKeyCache(None)
    with pytest.raises(ConnectionRefusedError):
        await cache.lookup_miss(pool, "wk_a")
    pool.down = False
    assert await cache.lookup_miss(pool, "wk_a") == "prj_a"


@pytest.mark.parametrize("junk", ["", "has space", "x" * 129, "wk_\u00e9", "a\nb"])
async def test_implausible_keys_never_reach_the_database(junk: str) -> None:
    pool = FakePool({})
    assert await WriteKeyCache(None).lookup_miss(pool, junk) is None
    assert pool.queries == 0


async def test_unwritable_file_does_not_break_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    cache = WriteKeyCache(blocker / "keys.json")
    assert await cache.refresh(FakePool({"wk_a": "prj_a"})) == 1
    assert cache.resolve("wk_a") == "prj_a"


def test_secret_hash_is_sha256_hex() -> None:
    assert hash_secret_key("sk_x") == hashlib.sha256(b"sk_x").hexdigest()
