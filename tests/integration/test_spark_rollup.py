"""The health rollups on Spark equal DuckDB's, row for row and type for type, and so do the scores.

One SparkSession (local[2]) serves the module; one test also goes through ``spark-submit``, the
way a refresh runs the job. The lake is generated: several projects (one with an id that needs
quoting), days with several files, late files in older days, merged files (the lake's own
merge), events with and without a group (attributed through PostgreSQL's memberships),
anonymous users, non-usage events, odd ``properties.feature`` values.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import msgspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from cxloop.health.rollup import ROLLUP_STORES
from cxloop.health.service import load_config, project_inputs, score_inputs
from cxloop.health.spark_job import spark_uri
from cxloop.health.spark_rollup import (
    SparkJob,
    day_signatures,
    in_process,
    rollup_with_engine,
    spark_submit_command,
)
from cxloop.lake import LakeLocation, merge_files, merged_name, partition_dir, project_dir
from cxloop.settings import Settings
from cxloop.wal import EVENT_LAKE_SCHEMA
from tests.helpers.s3 import s3_server

pyspark = pytest.importorskip("pyspark")

PROJECTS = ("p1", "007", "odd/ü %x")
START = date(2026, 10, 1)
DAYS = 7
AS_OF = START + timedelta(days=DAYS - 1)
FEATURES = ["search", "export", "share", "import", "alerts"]
# The stores the score reads: what both engines must agree on.
STORES = ("usage_feature", "usage_user")
DUCKDB = Settings(rollup_engine="duckdb")
SPARK = Settings(rollup_engine="spark", spark_master="local[2]")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # No network: the driver and the job's spark-submit listen on loopback only.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        yield from _session(SparkSession)


def _session(builder: Any) -> Iterator[Any]:
    session = (
        builder.builder.master("local[2]")
        .appName("cxloop-test-rollup")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# -- the lake ------------------------------------------------------------------------------


def _properties(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.75:
        return json.dumps({"feature": rng.choice(FEATURES), "n": rng.randrange(9)})
    return rng.choice(
        [
            None,
            "{}",
            '{"feature": 3}',
            '{"feature": 1.50}',
            '{"feature": null}',
            '{"feature": {"b": [1, "x"]}}',
            '{"feature": "caf\\u00e9 ✓"}',
            '{"feature": true}',
            '{"nested": {"feature": "no"}}',
        ]
    )


def _events(rng: random.Random, project: str, day: date, n: int, tag: str) -> pa.Table:
    """``n`` events of one project dated ``day``: a mix of usage and everything else."""
    base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1e6)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        account = rng.randrange(6)
        user = f"u{account}_{rng.randrange(5)}"
        kind = rng.choices(
            ["track", "page", "screen", "identify", "group", "alias"], [70, 14, 6, 5, 3, 2]
        )[0]
        event = None
        if kind == "track":
            event = rng.choices(
                ["Feature Used", "Report Exported", "Survey Responded", "Survey Shown", None],
                [70, 15, 6, 4, 5],
            )[0]
        user_id: str | None = user
        anonymous_id: str | None = f"anon-{rng.randrange(40)}"
        roll = rng.random()
        if roll < 0.10:
            user_id = None  # anonymous: counted only with a group of its own
        elif roll < 0.13:
            user_id = anonymous_id = None  # nobody: never counted
        elif roll < 0.16:
            user_id = "shared"  # also an anonymous id elsewhere: one user key
        elif roll < 0.19:
            anonymous_id = "shared"
            user_id = None
        group = f"acct_{account}" if rng.random() < 0.75 else None
        at = base + rng.randrange(86_400_000_000)
        rows.append(
            {
                "message_id": f"{project}-{day}-{tag}-{i}",
                "type": kind,
                "event": event,
                "name": "Dashboard" if kind in ("page", "screen") else None,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "group_id": group,
                "timestamp": at,
                "received_at": at + rng.randrange(3_000_000),
                "properties": _properties(rng) if kind == "track" else None,
            }
        )
    rows.sort(key=lambda r: r["timestamp"])
    columns = {f.name: [r.get(f.name) for r in rows] for f in EVENT_LAKE_SCHEMA}
    return pa.table(columns, schema=EVENT_LAKE_SCHEMA)


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def build_lake(root: Path, seed: int = 7) -> Path:
    """Every project: ``DAYS`` days of 2-4 files, late files in older days, and a merge of the
    first files of every third day."""
    rng = random.Random(seed)
    for project in PROJECTS:
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            directory = partition_dir(root, "events", project, day)
            for n in range(rng.randint(2, 4)):
                table = _events(rng, project, day, rng.randint(60, 200), f"s{n}")
                _write(table, directory / f"part-node0.{offset}-{n}.parquet")
            if offset % 3 == 1:
                sources = sorted(directory.glob("*.parquet"))[:2]
                merge_files(sources, directory / merged_name(s.name for s in sources))
        for offset in (1, 4):  # late events: a file of an older day written later
            day = START + timedelta(days=offset)
            late = _events(rng, project, day, 40, "late")
            _write(late, partition_dir(root, "events", project, day) / "part-node1.late.parquet")
    return root


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lake(tmp_path_factory.mktemp("generated") / "lake")


def _copy(lake: Path, target: Path) -> Path:
    shutil.copytree(lake, target)
    return target


async def _seed(conn: asyncpg.Connection) -> None:
    """Accounts (seats) and memberships: users u<a>_0..2 belong to acct_<a>; u0_3 moved to
    acct_5; "shared" belongs to acct_2."""
    now = datetime(2026, 9, 1, tzinfo=UTC)
    for project in PROJECTS:
        await conn.execute(
            "INSERT INTO projects (id, name, write_key, secret_key_hash, secret_key_prefix) "
            "VALUES ($1, $1, $2, $3, 'sk_')",
            project,
            f"wk-{project}",
            f"h-{project}",
        )
        await conn.executemany(
            "INSERT INTO accounts (project_id, account_id, traits, first_seen_at, last_seen_at) "
            "VALUES ($1, $2, $3::text::jsonb, $4, $4)",
            [
                (project, f"acct_{a}", json.dumps({"name": f"A{a}", "seats": 4 + a}), now)
                for a in range(6)
            ],
        )
        members = [(f"u{a}_{k}", f"acct_{a}") for a in range(6) for k in range(3)]
        members += [("u0_3", "acct_5"), ("shared", "acct_2")]
        await conn.executemany(
            "INSERT INTO memberships (project_id, user_id, account_id, first_seen_at, "
            "last_seen_at, last_group_call_at) VALUES ($1, $2, $3, $4, $4, $4)",
            [(project, user, account, now) for user, account in members],
        )


# -- comparing -----------------------------------------------------------------------------


def store_rows(lake: Path, store: str, project: str) -> list[tuple[Any, ...]]:
    """Every row of a project's store with its day, sorted (DuckDB reads both the same way)."""
    directory = project_dir(lake / "rollups", store, project)
    pattern = str(directory / "date=*" / "*.parquet").replace("'", "''")
    with duckdb.connect() as db:
        return db.execute(
            f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
            "hive_types = {'date': DATE}) ORDER BY ALL"
        ).fetchall()


def store_schemas(lake: Path, store: str, project: str) -> set[pa.Schema]:
    """The schemas of a store's files, less their writer's metadata."""
    directory = project_dir(lake / "rollups", store, project)
    return {pq.read_schema(f).remove_metadata() for f in directory.glob("date=*/*.parquet")}


def assert_same_stores(duck: Path, spark: Path) -> None:
    for project in PROJECTS:
        for store in STORES:
            expected = store_rows(duck, store, project)
            assert expected, (store, project)
            assert store_rows(spark, store, project) == expected, (store, project)
            schemas = store_schemas(spark, store, project)
            assert schemas == store_schemas(duck, store, project), (store, project)
            assert len(schemas) == 1
            days = sorted(p.name for p in project_dir(spark / "rollups", store, project).iterdir())
            expected_days = sorted(
                p.name for p in project_dir(duck / "rollups", store, project).iterdir()
            )
            assert days == expected_days
            # One file per day, and nothing else beside it (no _SUCCESS, no .crc).
            directory = project_dir(spark / "rollups", store, project)
            for day in directory.iterdir():
                assert [p.suffix for p in day.iterdir()] == [".parquet"], day


async def _roll(settings: Settings, conn: asyncpg.Connection, lake: Path, runner: Any) -> int:
    """Roll every project up; the days rolled up."""
    total = 0
    for project in PROJECTS:
        report = await rollup_with_engine(
            settings, conn, LakeLocation.directory(lake), project, runner=runner
        )
        total += report.partitions
    return total


async def _scores(conn: asyncpg.Connection, lake: Path) -> list[Any]:
    out = []
    for project in PROJECTS:
        inputs, key_features = await project_inputs(conn, lake, project, AS_OF)
        inputs.sort(key=lambda i: i.account_id)
        config = await load_config(conn, project)
        scored = score_inputs(inputs, config, config.key_features or key_features)
        out.append((project, key_features, msgspec.to_builtins(scored)))
    return out


# -- tests ---------------------------------------------------------------------------------


async def _state(conn: asyncpg.Connection) -> list[tuple[Any, ...]]:
    """``rollup_partitions``, taken out of the database: each engine keeps its own here."""
    rows = await conn.fetch("SELECT project_id, day, files, rows FROM rollup_partitions")
    await conn.execute("DELETE FROM rollup_partitions")
    return [tuple(r) for r in rows]


async def _restore(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    await conn.executemany(
        "INSERT INTO rollup_partitions (project_id, day, files, rows) VALUES ($1, $2, $3, $4)",
        rows,
    )


def _change(root: Path) -> None:
    """A late file in one day; a day whose usage is all erased (its rollup files must go)."""
    late = _events(random.Random(5), "p1", START, 50, "later")
    _write(late, partition_dir(root, "events", "p1", START) / "part-node2.later.parquet")
    quiet = partition_dir(root, "events", "007", START + timedelta(days=2))
    for path in sorted(quiet.glob("*.parquet")):
        table = pq.read_table(path)
        kinds = pa.array(["identify"] * table.num_rows, pa.string())
        table = table.set_column(table.schema.get_field_index("type"), "type", kinds)
        pq.write_table(table.cast(EVENT_LAKE_SCHEMA), path, compression="zstd")


async def test_spark_rollups_equal_duckdb_row_for_row(
    spark: Any, lake: Path, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await _seed(conn)
    duck, on_spark = _copy(lake, tmp_path / "duck"), _copy(lake, tmp_path / "spark")
    runner = in_process(spark)
    assert await _roll(SPARK, conn, on_spark, runner) == len(PROJECTS) * DAYS
    spark_state = await _state(conn)
    assert await _roll(DUCKDB, conn, duck, None) == len(PROJECTS) * DAYS
    duck_state = await _state(conn)
    # The same file-set signatures and usage events per day.
    assert sorted(spark_state) == sorted(duck_state)
    assert sum(r[3] for r in duck_state) > 4_000
    assert_same_stores(duck, on_spark)
    await _restore(conn, duck_state)
    scores = await _scores(conn, on_spark)
    assert scores == await _scores(conn, duck)
    assert all(len(accounts) == 6 for _, _, accounts in scores)

    # Then the lake and the memberships change; each engine rolls up what changed, from
    # its own state: two days each, and the stores are still equal everywhere.
    await _state(conn)
    await _restore(conn, spark_state)
    assert await _roll(SPARK, conn, on_spark, runner) == 0  # unchanged days are skipped
    for root in (duck, on_spark):
        _change(root)
    await conn.execute(
        "INSERT INTO memberships VALUES ('p1', 'u1_1', 'acct_4', now(), now(), now())"
    )
    assert await _roll(SPARK, conn, on_spark, runner) == 2
    await _state(conn)
    await _restore(conn, duck_state)
    assert await _roll(DUCKDB, conn, duck, None) == 2
    assert_same_stores(duck, on_spark)
    gone = f"date={START + timedelta(days=2)}"
    for root in (duck, on_spark):
        assert not (project_dir(root / "rollups", "usage_user", "007") / gone).exists()
    assert await _scores(conn, on_spark) == await _scores(conn, duck)


def test_spark_reads_each_row_once_whatever_the_merges_do(
    spark: Any, lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge interrupted on object storage leaves the merged file and its sources listed:
    the job reads the merged file only. A merge done while the job reads (its sources gone
    before Spark opens them) fails the read, never a short answer: the project is listed and
    read again."""
    from cxloop.health import spark_job

    clean, torn, busy = (_copy(lake, tmp_path / name) for name in ("clean", "torn", "busy"))
    members = tmp_path / "members.parquet"
    pq.write_table(
        pa.table({"project_id": ["p1"], "user_id": ["u0_0"], "account_id": ["acct_0"]}), members
    )
    day = START  # no merge there yet

    def merge(root: Path) -> None:
        directory = partition_dir(root, "events", "p1", day)
        sources = sorted(directory.glob("*.parquet"))[:2]
        merge_files(sources, directory / merged_name(s.name for s in sources))

    directory = partition_dir(torn, "events", "p1", day)
    kept = {s.name: s.read_bytes() for s in sorted(directory.glob("*.parquet"))[:2]}
    merge(torn)
    for name, content in kept.items():  # the sources' DELETE never happened
        (directory / name).write_bytes(content)
    assert len(list(directory.glob("*.parquet"))) == len(kept) + 2

    usage = spark_job._usage
    merges: list[Path] = []

    def merged_meanwhile(events: Any, members: Any) -> Any:
        if not merges:  # after the listing, before the read
            merges.append(busy)
            merge(busy)
        return usage(events, members)

    reports = {}
    for root in (clean, torn, busy):
        with monkeypatch.context() as patch:
            if root is busy:
                patch.setattr(spark_job, "_usage", merged_meanwhile)
            reports[root] = spark_job.run(
                spark, f"file://{root}", f"file://{members}", ["p1"], [day]
            )["p1"]
    assert [reports[r]["attempts"] for r in (clean, torn, busy)] == [1, 1, 2]
    assert reports[clean]["days"] == reports[torn]["days"] == reports[busy]["days"]
    for root in (torn, busy):
        for store in STORES:
            assert store_rows(root, store, "p1") == store_rows(clean, store, "p1")
            assert [p.name for p in project_dir(root / "rollups", store, "p1").iterdir()] == [
                f"date={day}"
            ]


async def test_spark_submit_runs_the_job(
    lake: Path, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """The refresh's way: ``spark-submit`` of spark_job.py to ``spark_master``."""
    await _seed(conn)
    duck, submitted = _copy(lake, tmp_path / "duck"), _copy(lake, tmp_path / "submitted")
    project = "odd/ü %x"
    location = LakeLocation.directory(submitted)
    report = await rollup_with_engine(SPARK, conn, location, project)
    assert report.partitions == DAYS and report.events > 1000
    assert not any((submitted / "rollups" / ".spark").iterdir())  # the members file is gone
    await conn.execute("DELETE FROM rollup_partitions")
    await rollup_with_engine(DUCKDB, conn, LakeLocation.directory(duck), project)
    for store in STORES:
        assert store_rows(submitted, store, project) == store_rows(duck, store, project)
    assert set(ROLLUP_STORES) >= set(STORES)


async def test_an_s3_lake_hands_the_job_s3_uris_and_its_members(
    lake: Path, conn: asyncpg.Connection
) -> None:
    """On object storage the seam lists the lake and PUTs the members through pyarrow, and
    the job is given s3:// URIs (S3A for Spark) and the endpoint. Spark itself is not run:
    hadoop-aws is not in pyspark's wheel (docs/scaling.md)."""
    await _seed(conn)
    jobs: list[tuple[SparkJob, int]] = []
    with s3_server() as s3:
        location = LakeLocation.object_store(s3.lake_url(), s3.endpoint_url)
        events = str(project_dir(lake, "events", "p1"))
        target = location.path(str(project_dir(Path(), "events", "p1")))
        pafs.copy_files(events, target, pafs.LocalFileSystem(), location.fs)

        async def runner(job: SparkJob) -> dict[str, Any]:
            members = pq.read_table(job.members_uri.removeprefix("s3://"), filesystem=location.fs)
            jobs.append((job, members.num_rows))
            return {"p1": {"days": {START.isoformat(): 5}}}

        report = await rollup_with_engine(SPARK, conn, location, "p1", runner=runner)
        assert day_signatures(location, "p1") == day_signatures(LakeLocation.directory(lake), "p1")
        left = location.fs.get_file_info(
            pafs.FileSelector(location.path("rollups"), recursive=True, allow_not_found=True)
        )
        assert not [i for i in left if i.type == pafs.FileType.File]  # the members file went
    ((job, members),) = jobs
    assert members == 20 and job.projects == ("p1",) and job.days is None
    assert job.lake_uri == location.url and job.members_uri.startswith(location.url + "/rollups/")
    assert spark_uri(job.lake_uri) == "s3a://" + location.root
    assert (report.partitions, report.events) == (DAYS, 5)
    command = spark_submit_command(SPARK, job, Path("report.json"), Path("/opt/spark"))
    assert command[0] == "/opt/spark/bin/spark-submit"
    assert f"spark.hadoop.fs.s3a.endpoint={s3.endpoint_url}" in command
    assert command[command.index("--lake") + 1] == location.url
