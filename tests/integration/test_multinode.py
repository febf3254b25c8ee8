"""Three ``cxloop serve`` nodes on one PostgreSQL and one S3 lake (issue 19): clients spray
batches across them with replays and retries on other nodes; a fourth node joins under load,
one is killed with SIGKILL mid-load and restarted on its data directory, one leaves with
``cxloop drain``; then every acked event is in the lake exactly once, PostgreSQL holds each
once, the health scores equal a single node's on the same events, and Spark's rollups of the
lake equal DuckDB's."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from tests.helpers.cluster import NODE_SETTINGS, Cluster, LakeSnapshot, running_cluster
from tests.helpers.server import Project, create_project, running_server
from tests.integration.conftest import _create_database, _drop_database

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
FEATURES = ["reports", "exports", "alerts", "search"]
ACCOUNTS = {"acct_good": (5, True), "acct_bad": (6, False)}  # users, healthy
LOAD_SECONDS = 9.0  # at least, ...
MAX_LOAD_SECONDS = 60.0  # ... until n4 joined and n2 came back, at most
JOIN_AT_S = 0.5  # n4 joins the cluster under load
KILL_AT_S = 2.5  # n2 is killed with SIGKILL ...
RESTART_AT_S = 4.0  # ... and restarted on its data directory


def _event(days_ago: float, **fields: Any) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "timestamp": (NOW - timedelta(days=days_ago)).isoformat(),
        **fields,
    }


def account_history() -> list[dict[str, Any]]:
    """60 days of two accounts: one uses every feature daily, the other fades out and rates
    the product low; traits from identify and group calls."""
    events = []
    for account, (users, healthy) in ACCOUNTS.items():
        for u in range(users):
            user = f"{account}-u{u}"
            events.append(
                _event(60, type="identify", userId=user, traits={"email": f"{user}@x.io"})
            )
            events.append(
                _event(60, type="group", userId=user, groupId=account,
                       traits={"name": account, "plan": "pro", "seats": users * 2})
            )  # fmt: skip
        for day in range(60, -1, -1):
            if not healthy and day < 20:
                continue
            for u in range(users if healthy else 2):
                for feature in FEATURES if healthy else FEATURES[:1]:
                    events.append(
                        _event(day, type="track", event="Feature Used", userId=f"{account}-u{u}",
                               properties={"feature": feature})
                    )  # fmt: skip
        for u in range(3):
            events.append(
                _event(2, type="track", event="Survey Responded", userId=f"{account}-u{u}",
                       context={"groupId": account},
                       properties={"survey_id": "s1", "kind": "nps", "partial": False,
                                   "response_id": f"{account}-r{u}", "score": 9 if healthy else 2})
            )  # fmt: skip
    return events


def load_batch(rng: random.Random, size: int = 20) -> list[dict[str, Any]]:
    """What a busy product sends: feature use (some of it the two accounts'), identifies,
    survey impressions and ratings."""
    events = []
    for _ in range(size):
        user = f"user{rng.randrange(300)}"
        kind = rng.random()
        if kind < 0.7:
            account = rng.choice([None, None, "acct_good", "acct_bad"])
            context = {"groupId": account} if account else {}
            events.append(
                _event(rng.random(), type="track", event="Feature Used", userId=user,
                       context=context, properties={"feature": rng.choice(FEATURES)})
            )  # fmt: skip
        elif kind < 0.8:
            events.append(_event(0, type="identify", userId=user, traits={"plan": "pro"}))
        elif kind < 0.9:
            events.append(
                _event(0, type="track", event="Survey Shown", userId=user,
                       properties={"survey_id": "s2", "kind": "csat"})
            )  # fmt: skip
        else:
            events.append(
                _event(0, type="track", event="Survey Responded", userId=user,
                       properties={"survey_id": "s2", "kind": "csat", "partial": False,
                                   "score": rng.randint(1, 5)})
            )  # fmt: skip
    return events


@dataclass
class Spray:
    """What the clients sent and which of it a node acked (answered 200)."""

    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # message id -> event
    acked: set[str] = field(default_factory=set)
    bodies: dict[str, list[bytes]] = field(default_factory=dict)  # node -> bodies it acked
    answers: dict[str, int] = field(default_factory=dict)  # outcome -> count
    before_kill: list[bytes] = field(default_factory=list)  # what n2 acked before its kill

    def count(self, outcome: str) -> None:
        self.answers[outcome] = self.answers.get(outcome, 0) + 1


async def post(
    client: httpx.AsyncClient,
    cluster: Cluster,
    node_id: str,
    body: bytes,
    project: Project,
    record: Spray,
    wait_s: float = 10,
) -> bool:
    node = cluster.nodes[node_id]
    if not node.running:
        record.count("node down")
        return False
    try:
        answer = await client.post(
            f"{node.url}/v1/batch", content=body, headers=project.basic_auth, timeout=wait_s
        )
    except httpx.TimeoutException:
        record.count("timeout")
        return False
    except httpx.HTTPError:
        record.count("connection error")
        return False
    record.count(str(answer.status_code))
    if answer.status_code != 200:
        return False
    record.bodies.setdefault(node_id, []).append(body)
    return True


async def spray(
    cluster: Cluster,
    project: Project,
    events: list[dict[str, Any]],
    record: Spray,
    *,
    stop: asyncio.Event | None = None,
    clients: int = 6,
    seed: int = 19,
) -> None:
    """Batches to random nodes: ``events`` in 250-event batches, then generated load until
    ``stop`` is set (none without it). A fifth of the batches also go to a second node (a replay); a tenth
    first go to one node with a timeout too short to wait for the answer, then, as a client
    would retry, to another; a batch a node did not ack is retried on another."""
    rng = random.Random(seed)
    given = [events[i : i + 250] for i in range(0, len(events), 250)]

    def next_batch() -> list[dict[str, Any]] | None:
        if given:
            return given.pop()
        if stop is not None and not stop.is_set():
            return load_batch(rng)
        return None

    async def client_loop(client: httpx.AsyncClient) -> None:
        while (batch := next_batch()) is not None:
            record.sent.update((e["messageId"], e) for e in batch)
            body = msgspec.json.encode({"batch": batch})
            order = [n.node_id for n in cluster.running()]
            rng.shuffle(order)
            if not order:
                await asyncio.sleep(0.05)
                continue
            roll = rng.random()
            acked = False
            if roll < 0.1 and len(order) > 1:  # gave up waiting, retried elsewhere
                await post(client, cluster, order[0], body, project, record, wait_s=0.003)
                order = order[1:]
            elif roll < 0.3 and len(order) > 1:  # the same batch to two nodes
                acked = await post(client, cluster, order[0], body, project, record)
                order = order[1:]
            for node_id in order * 3:
                if acked:
                    break
                acked = await post(client, cluster, node_id, body, project, record)
                if not acked:
                    await asyncio.sleep(0.05)
            if acked:
                record.acked.update(e["messageId"] for e in batch)

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))


async def at(started: float, offset_s: float) -> None:
    await asyncio.sleep(max(0.0, started + offset_s - time.monotonic()))


async def churn(cluster: Cluster, record: Spray, stop: asyncio.Event) -> None:
    """While the load runs: ``n4`` joins, ``n2`` is killed with SIGKILL and restarted on its
    data directory; the load stops once both have acked batches since (starting a node takes
    seconds on a busy machine), ``LOAD_SECONDS`` at least, ``MAX_LOAD_SECONDS`` at most."""
    started = time.monotonic()

    async def kill_and_restart() -> None:
        await at(started, KILL_AT_S)
        cluster.nodes["n2"].kill()
        record.before_kill = record.bodies.pop("n2", [])
        await at(started, RESTART_AT_S)
        await asyncio.to_thread(cluster.nodes["n2"].restart)

    async def join() -> None:
        await at(started, JOIN_AT_S)
        await asyncio.to_thread(cluster.add_node, "n4")

    try:
        await asyncio.gather(kill_and_restart(), join())
        await at(started, LOAD_SECONDS)
        while time.monotonic() < started + MAX_LOAD_SECONDS and not (  # noqa: ASYNC110 - counts
            len(record.bodies.get("n2", [])) >= 5 and len(record.bodies.get("n4", [])) >= 5
        ):
            await asyncio.sleep(0.2)
    finally:
        stop.set()


@pytest.fixture(scope="module")
def cluster(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    name, url = _create_database(postgres_server_url)
    root = tmp_path_factory.mktemp("cluster")
    try:
        # Segments sealed every second: on object storage every file is a PUT and a GET.
        with running_cluster(3, root, url, wal_segment_max_age_s=1.0) as running:
            yield running
    finally:
        _drop_database(postgres_server_url, name)


@pytest.fixture(scope="module")
def project(cluster: Cluster) -> Project:
    project = create_project(cluster.database_url, "acme")
    # Every node learns the new write key within key_refresh_s.
    deadline = time.monotonic() + 30
    for node in cluster.nodes.values():
        while (
            httpx.post(
                f"{node.url}/v1/batch", json={"batch": []}, headers=project.basic_auth
            ).status_code
            == 401
        ):
            assert time.monotonic() < deadline, f"node {node.node_id} never knew the key"
            time.sleep(0.2)
    return project


@dataclass
class Sprayed:
    sent: Spray
    lake: LakeSnapshot
    drained: subprocess.CompletedProcess[str]  # n3 leaving the cluster


@pytest.fixture(scope="module")
def sprayed(cluster: Cluster, project: Project) -> Sprayed:
    """The history and the load sprayed across the nodes; ``n4`` joins under load, ``n2`` is
    killed mid-load and restarted, ``n3`` leaves with ``cxloop drain`` after it; returns once
    every acked event is in the lake and PostgreSQL."""
    sent = Spray()

    async def run() -> None:
        stop = asyncio.Event()
        await asyncio.gather(
            spray(cluster, project, account_history(), sent, stop=stop),
            churn(cluster, sent, stop),
        )
        # Clients retry what n2 acked just before it died, on n2 again: still once.
        async with httpx.AsyncClient() as client:
            for body in sent.before_kill[-20:]:
                deadline = time.monotonic() + 60
                while not await post(client, cluster, "n2", body, project, sent):
                    assert time.monotonic() < deadline, sent.answers  # 503s while it catches up
                    await asyncio.sleep(0.5)

    asyncio.run(run())
    assert cluster.nodes["n2"].starts == 2
    assert len(sent.acked) > 3000, sent.answers
    assert sent.answers.get("timeout", 0) > 0, sent.answers  # retries on another node happened
    assert sent.bodies.get("n4"), "the node that joined took part of the load"
    drained = cluster.nodes["n3"].drain()
    if "No such command" in drained.stderr:  # not merged yet: n3 works off its WAL itself
        cluster.nodes["n3"].start()
    try:
        cluster.wait_for_lake(sent.acked, project.id, timeout=120)
        cluster.wait_until_projected(timeout=120)
    except AssertionError:
        print(cluster.logs()[-20000:], drained.stdout, drained.stderr)
        raise
    return Sprayed(sent, cluster.lake(), drained)


def test_every_acked_event_is_in_the_lake_exactly_once(sprayed: Sprayed, project: Project) -> None:
    sent, lake = sprayed.sent, sprayed.lake
    duplicates = lake.duplicates()
    assert not duplicates, f"{len(duplicates)} events twice:\n{lake.explain(duplicates)}"
    ids = lake.ids(project.id)
    assert sent.acked <= ids
    assert ids <= set(sent.sent)  # nothing made up; unacked ones may have landed (timeouts)
    # An outside engine listing every object sees a row twice only for the moment between a
    # merge's PUT and its sources' DELETE: only in files a present merged file names.
    shadowed = lake.shadowed
    raw = lake.duplicates(raw=True)
    if raw:
        in_plain = {
            key
            for path, rows in lake.rows.items()
            if path not in shadowed
            for key in rows
            if key in raw
        }
        assert all(lake.counts()[key] == 1 for key in in_plain)


def test_lake_files_name_the_node_that_wrote_them(sprayed: Sprayed, cluster: Cluster) -> None:
    lake = sprayed.lake
    for file in lake.files:
        if file.merged_from:
            continue
        stem = file.name.removeprefix("part-").removesuffix(".parquet")
        node, dot, segment = stem.partition(".")
        assert dot and node in cluster.nodes and segment, file.name


async def test_postgresql_holds_each_event_once(
    sprayed: Sprayed, cluster: Cluster, project: Project
) -> None:
    sent, lake = sprayed.sent, sprayed.lake
    landed = [sent.sent[i] for i in lake.ids(project.id)]
    responses = {e["messageId"] for e in landed if e.get("event") == "Survey Responded"}
    shown = {e["messageId"] for e in landed if e.get("event") == "Survey Shown"}
    users = {e["userId"] for e in landed}
    conn = await asyncpg.connect(cluster.database_url)
    try:
        rows = await conn.fetch(
            "SELECT message_id FROM survey_responses WHERE project_id = $1", project.id
        )
        assert sorted(r["message_id"] for r in rows) == sorted(responses)
        rated = await conn.fetchval(
            "SELECT sum(n) FROM survey_rating_days WHERE project_id = $1", project.id
        )
        assert rated == len(responses)
        impressions = await conn.fetch(
            "SELECT message_id FROM survey_impressions WHERE project_id = $1", project.id
        )
        assert sorted(r["message_id"] for r in impressions) == sorted(shown)
        projected_users = await conn.fetch(
            "SELECT user_id FROM users WHERE project_id = $1", project.id
        )
        assert {r["user_id"] for r in projected_users} == users
    finally:
        await conn.close()


SNAPSHOT_SQL = """
SELECT account_id, day, score, band, confidence, change, components::text, drivers::text
FROM health_snapshots WHERE project_id = $1 ORDER BY account_id, day
"""


async def _snapshots(database_url: str, project_id: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(r) for r in await conn.fetch(SNAPSHOT_SQL, project_id)]
    finally:
        await conn.close()


def _refresh(url: str, project: Project) -> dict[str, Any]:
    answer = httpx.post(f"{url}/v1/health/refresh", headers=project.bearer, timeout=180)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_health_scores_equal_a_single_node_on_the_same_events(
    sprayed: Sprayed,
    cluster: Cluster,
    project: Project,
    postgres_server_url: str,
    tmp_path: Path,
) -> None:
    sent, lake = sprayed.sent, sprayed.lake
    # The same events (every one in the cluster's lake, acked or landed after a timeout), in
    # another order, to one node on its own lake and database.
    events = [sent.sent[i] for i in lake.ids(project.id)]
    random.Random(7).shuffle(events)
    name, single_url = _create_database(postgres_server_url)
    try:
        single_project = create_project(single_url, "acme")
        with running_server(tmp_path / "single", single_url, **NODE_SETTINGS) as single:
            with single.client(headers=single_project.basic_auth) as client:
                for start in range(0, len(events), 500):
                    answer = client.post("/v1/batch", json={"batch": events[start : start + 500]})
                    assert answer.status_code == 200 and not answer.json()["rejected"]
            alone = _refresh(single.url, single_project)
        together = _refresh(cluster.nodes["n1"].url, project)
        assert together["accounts"] == alone["accounts"] == len(ACCOUNTS)
        assert together["rollup"] == alone["rollup"]
        scores = asyncio.run(_snapshots(cluster.database_url, project.id))
        expected = asyncio.run(_snapshots(single_url, single_project.id))
        assert scores and scores == expected
    finally:
        _drop_database(postgres_server_url, name)


async def test_a_drained_node_left_nothing_behind(sprayed: Sprayed, cluster: Cluster) -> None:
    drained = sprayed.drained
    if "No such command" in drained.stderr:
        pytest.skip("`cxloop drain` is not merged on this branch yet")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    node = cluster.nodes["n3"]
    assert not node.running and node.in_flight() == 0
    conn = await asyncpg.connect(cluster.database_url)
    try:
        rows = await conn.fetch("SELECT node_id FROM cluster_nodes ORDER BY node_id")
    finally:
        await conn.close()
    assert [r["node_id"] for r in rows] == ["n1", "n2", "n4"]


ROLLUP_STORES_COMPARED = ("usage_feature", "usage_user")  # what the score reads


def _copy_live_files(cluster: Cluster, lake: LakeSnapshot, target: Path) -> None:
    """The events a reader of the cluster's lake sees, as a local lake under ``target``."""
    fs = cluster.filesystem()
    shadowed = lake.shadowed
    for file in lake.files:
        if file.path in shadowed:
            continue
        local = target / file.path[len(cluster.lake_root) + 1 :]
        local.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(file.path) as source:
            local.write_bytes(source.read())


def _store_rows(lake: Path, store: str, project_id: str) -> list[tuple[Any, ...]]:
    import duckdb

    pattern = str(lake / "rollups" / store / f"project_id={project_id}" / "date=*" / "*.parquet")
    with duckdb.connect() as db:
        rows: list[tuple[Any, ...]] = db.execute(
            f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
            "hive_types = {'date': DATE}) ORDER BY ALL"
        ).fetchall()
    return rows


async def test_spark_and_duckdb_rollups_agree_on_the_cluster_lake(
    sprayed: Sprayed,
    cluster: Cluster,
    project: Project,
    conn: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Spark reads S3 through hadoop-aws, which cannot be installed here: both engines roll up
    a local copy of the live files of the cluster's lake, with the cluster's memberships."""
    pytest.importorskip("pyspark")
    spark_rollup = pytest.importorskip("cxloop.health.spark_rollup")  # issue 19's Spark seam
    from cxloop.lake import LakeLocation
    from cxloop.settings import Settings

    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only
    source = await asyncpg.connect(cluster.database_url)
    try:
        members = await source.fetch(
            "SELECT project_id, user_id, account_id, first_seen_at, last_seen_at, "
            "last_group_call_at FROM memberships WHERE project_id = $1",
            project.id,
        )
    finally:
        await source.close()
    await conn.execute(
        "INSERT INTO projects (id, name, write_key, secret_key_hash, secret_key_prefix) "
        "VALUES ($1, 'acme', 'wk_copy', 'h', 'sk_')",
        project.id,
    )
    await conn.copy_records_to_table(
        "memberships",
        records=[tuple(r) for r in members],
        columns=[
            "project_id", "user_id", "account_id", "first_seen_at", "last_seen_at",
            "last_group_call_at",
        ],
    )  # fmt: skip
    rolled = {}
    for engine in ("duckdb", "spark"):
        root = tmp_path / engine
        _copy_live_files(cluster, sprayed.lake, root)
        await conn.execute("DELETE FROM rollup_partitions")  # each engine rolls every day up
        settings = Settings(rollup_engine=engine, spark_master="local[2]")
        report = await spark_rollup.rollup_with_engine(
            settings, conn, LakeLocation.directory(root), project.id
        )
        rolled[engine] = (report.partitions, report.events)
    assert rolled["spark"] == rolled["duckdb"]
    for store in ROLLUP_STORES_COMPARED:
        expected = _store_rows(tmp_path / "duckdb", store, project.id)
        assert expected, store
        assert _store_rows(tmp_path / "spark", store, project.id) == expected, store
