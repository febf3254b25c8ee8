"""The cluster's dedupe claims in a real PostgreSQL: one owner per key across nodes, the same
answer on a retry and after a restart, expiry by generation, and the local index's rules."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxloop.cluster import ClusterDedupe
from cxloop.db import apply_migrations
from cxloop.lake import Claim, DedupeIndex, DedupeKey

DAY = date(2026, 12, 1)


def ev(message_id: str, project_id: str = "p1") -> DedupeKey:
    return ("e", project_id, message_id)


def _at_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


async def _migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


async def _fetchval(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


@pytest.fixture
def claims_url(database_url: str) -> str:
    asyncio.run(_migrate(database_url))
    return database_url


@pytest.fixture
def opened(claims_url: str) -> Iterator[Callable[..., ClusterDedupe]]:
    """Opens ClusterDedupe instances on the test's database; all closed afterwards."""
    instances: list[ClusterDedupe] = []

    def open_one(node: str, **kwargs: object) -> ClusterDedupe:
        instance = ClusterDedupe(claims_url, node, **kwargs)  # type: ignore[arg-type]
        instances.append(instance)
        return instance

    yield open_one
    for instance in instances:
        instance.close()


def test_new_keys_are_owned_retries_keep_theirs_and_other_nodes_see_duplicates(
    opened: Callable[..., ClusterDedupe],
) -> None:
    n1, n2 = opened("n1"), opened("n2")
    keys = [ev("a"), ev("b"), ev("a"), ("f", "p1", "a"), ev("a", "p2")]
    assert n1.claim("s1", keys).tolist() == [True, True, False, True, True]
    assert n1.claim("s1", keys).tolist() == [True, True, False, True, True]  # a retry
    # The same segment id on another node is another owner: every key is a duplicate there.
    assert n2.claim("s1", [*keys, ev("c")]).tolist() == [False] * 5 + [True]
    assert n1.owned("s1", keys).tolist() == [True, True, False, True, True]
    assert n2.owned("s1", [*keys, ev("c")]).tolist() == [False] * 5 + [True]


def test_one_transaction_answers_as_claims_one_after_another(
    opened: Callable[..., ClusterDedupe],
) -> None:
    n1 = opened("n1")
    masks = n1.claim_many(
        [
            Claim("s1", [ev("a"), ev("b")], DAY),
            Claim("s2", [ev("b"), ev("c"), ev("c")], DAY),
            Claim("s1", [ev("a"), ev("c"), ev("d")], DAY),  # its own keys stay its own
        ]
    )
    assert [mask.tolist() for mask in masks] == [
        [True, True],
        [False, True, False],
        [True, False, True],
    ]


def test_a_salt_is_made_once_and_shared(claims_url: str) -> None:
    first, second = ClusterDedupe(claims_url, "n1"), ClusterDedupe(claims_url, "n2")
    try:
        keys = [ev("a"), ev("b")]
        one, two = first.fingerprints(keys), second.fingerprints(keys)
        assert one.hi.tolist() == two.hi.tolist() and one.lo.tolist() == two.lo.tolist()
        assert asyncio.run(_fetchval(claims_url, "SELECT count(*) FROM cluster_dedupe_salt")) == 1
    finally:
        first.close()
        second.close()


def test_two_nodes_claiming_overlapping_segments_at_once_own_each_key_exactly_once(
    opened: Callable[..., ClusterDedupe],
) -> None:
    ids = [f"m{i}" for i in range(6000)]
    rng = random.Random(19)
    # Each node: 12 segments of 1,500 keys drawn from the same 6,000 ids (with repeats).
    plans = {
        node: [[ev(rng.choice(ids)) for _ in range(1500)] for _ in range(12)]
        for node in ("n1", "n2")
    }
    nodes = {node: opened(node) for node in plans}
    masks: dict[str, list[np.ndarray]] = {node: [] for node in plans}
    start = threading.Barrier(len(plans))

    def run(node: str) -> None:
        start.wait()
        for number, keys in enumerate(plans[node]):
            masks[node].append(nodes[node].claim(f"w0-{number}", keys, received_day=DAY))

    threads = [threading.Thread(target=run, args=(node,)) for node in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    owners: dict[str, list[str]] = {}
    for node, segments in plans.items():
        for number, keys in enumerate(segments):
            for key, owns in zip(keys, masks[node][number].tolist(), strict=True):
                if owns:
                    owners.setdefault(key[2], []).append(f"{node}.{number}")
    claimed = {key[2] for segments in plans.values() for keys in segments for key in keys}
    assert set(owners) == claimed  # every key has an owner
    assert [key for key, who in owners.items() if len(who) != 1] == []  # and only one
    # What each segment owns reads back the same (after a restart: new instances).
    for node, segments in plans.items():
        again = opened(node)
        for number, keys in enumerate(segments):
            assert again.owned(f"w0-{number}", keys).tolist() == masks[node][number].tolist()


def test_a_retry_after_a_crash_gets_the_same_mask(
    claims_url: str, opened: Callable[..., ClusterDedupe]
) -> None:
    other = opened("n2")
    other.claim("s9", [ev("b"), ev("x")])
    keys = [ev("a"), ev("b"), ev("c"), ev("a")]
    crashed = ClusterDedupe(claims_url, "n1")
    first = crashed.claim("s1", keys)
    crashed._drop_connection()  # the process died: its connection went with it, no close
    crashed._loop.close()
    assert first.tolist() == [True, False, True, False]
    restarted = opened("n1")
    assert restarted.claim("s1", keys).tolist() == first.tolist()
    assert restarted.owned("s1", keys).tolist() == first.tolist()
    assert restarted.claimed_segments() == ["s1"]


def test_a_lost_connection_is_replaced_on_the_next_call(
    claims_url: str, opened: Callable[..., ClusterDedupe]
) -> None:
    n1 = opened("n1")
    assert n1.claim("s1", [ev("a")]).tolist() == [True]
    asyncio.run(
        _fetchval(
            claims_url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
    )
    assert n1.claim("s2", [ev("a"), ev("b")]).tolist() == [False, True]


def test_a_segment_unknown_to_the_claims_counts_its_first_occurrences_as_owned(
    opened: Callable[..., ClusterDedupe],
) -> None:
    n1 = opened("n1")
    n1.claim("s1", [ev("a")])
    assert n1.owned("gone", [ev("a"), ev("b"), ev("a")]).tolist() == [True, True, False]


def test_release_and_claimed_segments_are_per_node(opened: Callable[..., ClusterDedupe]) -> None:
    n1, n2 = opened("n1"), opened("n2")
    n1.claim("s1", [ev("a")])
    n1.claim("s2", [ev("b")])
    n2.claim("s1", [ev("c")])
    assert (n1.claimed_segments(), n2.claimed_segments()) == (["s1", "s2"], ["s1"])
    n1.release("s1")
    assert (n1.claimed_segments(), n2.claimed_segments()) == (["s2"], ["s1"])
    assert n1.claim("s3", [ev("a")]).tolist() == [False]  # released keys stay until expiry


def test_expiry_drops_whole_generations_and_their_keys(
    claims_url: str, opened: Callable[..., ClusterDedupe]
) -> None:
    clock = {"now": _at_noon(DAY)}
    n1 = opened("n1", window_days=7, generation_days=1, clock=lambda: clock["now"])
    n1.claim("old", [ev("a"), ev("b")])
    clock["now"] = _at_noon(DAY + timedelta(days=3))
    n1.claim("new", [ev("c")])
    assert n1.stats().keys == 3 and n1.stats().days == 2
    assert n1.expire(_at_noon(DAY + timedelta(days=7))) == 0  # 7 days back: kept
    assert n1.expire(_at_noon(DAY + timedelta(days=8))) == 2  # the first day's partition
    partitions = (
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'cluster_dedupe_claims'::regclass"
    )
    # Left: the third day's, and those each expiry opened for its today (empty): the current
    # generation is never dropped.
    assert asyncio.run(_fetchval(claims_url, partitions)) == 3
    stats = n1.stats()
    assert (stats.keys, stats.days) == (1, 3)
    assert n1.claimed_segments() == ["new"]
    clock["now"] = _at_noon(DAY + timedelta(days=8))
    assert n1.claim("later", [ev("a"), ev("c")]).tolist() == [True, False]


def test_a_generation_of_several_days_is_kept_until_its_last_day_leaves_the_window(
    claims_url: str, opened: Callable[..., ClusterDedupe]
) -> None:
    clock = {"now": _at_noon(DAY)}
    n1 = opened("n1", window_days=7, generation_days=4, clock=lambda: clock["now"])
    start = n1._generation_of(DAY)
    assert (DAY - start).days < 4 and n1._generation_of(start + timedelta(days=3)) == start
    assert n1._generation_of(start + timedelta(days=4)) == start + timedelta(days=4)
    clock["now"] = _at_noon(start + timedelta(days=3))  # the generation's last day
    n1.claim("s1", [ev("a")])
    assert n1.expire(_at_noon(start + timedelta(days=3 + 7))) == 0
    assert n1.expire(_at_noon(start + timedelta(days=3 + 8))) == 1


def test_nodes_on_either_side_of_midnight_still_own_each_key_once(
    opened: Callable[..., ClusterDedupe],
) -> None:
    """The generation moves while another node claims: it waits for the claims in flight,
    and every later claim sees them (nodes whose clocks disagree by a day, in the worst case)."""
    before = opened("n1", generation_days=1, clock=lambda: _at_noon(DAY))
    after = opened("n2", generation_days=1, clock=lambda: _at_noon(DAY + timedelta(days=1)))
    ids = [ev(f"m{i}") for i in range(3000)]
    rng = random.Random(7)
    plans = {
        "n1": [rng.sample(ids, 800) for _ in range(10)],
        "n2": [rng.sample(ids, 800) for _ in range(10)],
    }
    results: dict[str, list[list[bool]]] = {"n1": [], "n2": []}
    start = threading.Barrier(2)

    def run(node: str, claims: ClusterDedupe) -> None:
        start.wait()
        for number, keys in enumerate(plans[node]):
            results[node].append(claims.claim(f"s{number}", keys).tolist())

    threads = [
        threading.Thread(target=run, args=("n1", before)),
        threading.Thread(target=run, args=("n2", after)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    owned: dict[str, int] = {}
    for node, segments in plans.items():
        for keys, mask in zip(segments, results[node], strict=True):
            for key, owns in zip(keys, mask, strict=True):
                owned[key[2]] = owned.get(key[2], 0) + owns
    claimed = {key[2] for segments in plans.values() for keys in segments for key in keys}
    assert {key: count for key, count in owned.items() if count != 1} == {}
    assert set(owned) == claimed


_key = st.tuples(
    st.sampled_from(["e", "f"]), st.sampled_from(["p1", "p2"]), st.sampled_from("abcdefgh")
)
_claims = st.lists(
    st.tuples(st.sampled_from(["s1", "s2", "s3"]), st.lists(_key, max_size=12)),
    min_size=1,
    max_size=6,
)


# The database is reset at the start of each example (a function-scoped fixture is fine).
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_claims)
def test_the_cluster_decides_as_the_local_index_does(
    claims_url: str, steps: list[tuple[str, list[DedupeKey]]]
) -> None:
    asyncio.run(
        _fetchval(
            claims_url,
            "TRUNCATE cluster_dedupe_claims, cluster_dedupe_owners, cluster_dedupe_days, "
            "cluster_dedupe_generation",
        )
    )
    with (
        tempfile.TemporaryDirectory() as directory,
        DedupeIndex(Path(directory) / "dedupe") as local,
        ClusterDedupe(claims_url, "n1") as cluster,
    ):
        for segment, keys in steps:
            assert cluster.claim(segment, keys).tolist() == local.claim(segment, keys).tolist()
        for segment, keys in steps:
            assert cluster.owned(segment, keys).tolist() == local.owned(segment, keys).tolist()
        batch = [Claim(segment, keys) for segment, keys in steps]
        assert [m.tolist() for m in cluster.claim_many(batch)] == [
            m.tolist() for m in local.claim_many(batch)
        ]


_CHILD_CLAIM = """
import sys
from cxloop.cluster import ClusterDedupe
from cxloop.lake import KeyBatch
keys = KeyBatch.from_keys([("e", "p1", f"m{i}") for i in range(int(sys.argv[2]))])
with ClusterDedupe(sys.argv[1], "n1") as claims:
    print("claiming", flush=True)
    while True:
        claims.claim("s1", keys)
"""


def test_a_node_killed_mid_claim_gets_a_consistent_answer_when_it_retries(
    claims_url: str, opened: Callable[..., ClusterDedupe]
) -> None:
    """kill -9 while claiming (before, during or after a commit): the retry's mask is whatever
    one uninterrupted claim would give, and the other node's keys stay the other node's."""
    count = 60_000
    other = opened("n2")
    other_keys = [ev(f"m{i}") for i in range(0, count, 3)]
    assert other.claim("t1", other_keys).all()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_CLAIM, claims_url, str(count)],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"claiming\n"
        time.sleep(random.Random(3).uniform(0.2, 1.5))
    finally:
        child.kill()
        child.wait(30)
    keys = [ev(f"m{i}") for i in range(count)]
    restarted = opened("n1")
    mask = restarted.claim("s1", keys).tolist()
    assert mask == [i % 3 != 0 for i in range(count)]
    assert restarted.owned("s1", keys).tolist() == mask
    assert other.owned("t1", other_keys).all()
