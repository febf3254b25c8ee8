"""The rollup engine seam: DuckDB in the pipeline (the default), or a Spark job (``spark_job.py``).

``rollup_with_engine`` is what a refresh calls to bring a project's rollup stores up to date,
whichever engine ``settings.rollup_engine`` names. Both write the same stores, row for row
(tests/integration/test_spark_rollup.py), and both keep ``rollup_partitions`` (a day is rolled
up again when its file set changed), so the engine can be switched at any time.

On Spark a changed day is rolled up again from its lake files (Spark has no use for DuckDB's
per-file details: it is there for lakes too big for one process). The job runs as
``spark-submit`` (client mode: this process waits for it) against ``settings.spark_master``;
the user's current accounts go to it as a Parquet file under ``rollups/.spark/``, which it
deletes after. Cluster settings (executors, memory, S3A) come from ``spark-defaults.conf``
(``SPARK_CONF_DIR``) or ``SPARK_SUBMIT_OPTS``, as for any Spark job; docs/scaling.md.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.db import Connection
from cxloop.health.rollup import RollupReport, lake_partitions
from cxloop.health.service import RollupEngine, rollup_on_duckdb
from cxloop.lake import LakeLocation, as_location

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cxloop.settings import Settings

__all__ = [
    "SPARK_JOB",
    "SparkJob",
    "SparkRunner",
    "SparkUnavailable",
    "day_signatures",
    "in_process",
    "rollup_engine",
    "rollup_on_spark",
    "rollup_with_engine",
    "spark_submit",
    "spark_submit_command",
]

log = logging.getLogger("cxloop.health")

# The job, shipped to the cluster as this one file (it imports only pyspark).
SPARK_JOB = Path(__file__).with_name("spark_job.py")
# Under the lake's rollups: files handed to a Spark job (hidden: no tool globs them).
_SPARK_DIR = ".spark"

_UPSERT_PARTITIONS = """
INSERT INTO rollup_partitions (project_id, day, files, rows, rolled_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (project_id, day)
DO UPDATE SET files = EXCLUDED.files, rows = EXCLUDED.rows, rolled_at = now()
"""


class SparkUnavailable(RuntimeError):
    """``rollup_engine=spark`` but Spark cannot be started here."""


@dataclass(frozen=True, slots=True)
class SparkJob:
    """One run of the Spark rollup job: its arguments."""

    lake_uri: str  # the lake's root: a local path or s3://bucket/prefix
    members_uri: str  # Parquet: project_id, user_id, account_id
    projects: tuple[str, ...]
    days: tuple[date, ...] | None  # None: every day of the projects' events
    endpoint_url: str | None = None  # the S3 API's address, for a store that is not AWS

    def arguments(self) -> list[str]:
        """The job's command-line arguments (after the job file)."""
        out = ["--lake", self.lake_uri, "--members", self.members_uri]
        for project in self.projects:
            out += ["--project", project]
        for day in self.days or ():
            out += ["--day", day.isoformat()]
        return out


# Runs a job; returns its report: per project id, {"days": {"YYYY-MM-DD": usage events}, ...}.
SparkRunner = Callable[[SparkJob], Awaitable[dict[str, Any]]]


async def rollup_with_engine(
    settings: Settings,
    conn: Connection,
    location: LakeLocation,
    project_id: str,
    *,
    runner: SparkRunner | None = None,
) -> RollupReport:
    """Bring one project's rollup stores up to date with the configured engine.

    DuckDB: ``rollup_project`` over the project's listing, listed again (up to 10 times) when
    files were merged away meanwhile. Spark: ``rollup_on_spark`` with ``runner`` (default:
    ``spark-submit`` to ``settings.spark_master``)."""
    if settings.rollup_engine == "spark":
        return await rollup_on_spark(conn, location, project_id, runner or _submitter(settings))
    return await rollup_on_duckdb(conn, location, project_id)


def rollup_engine(settings: Settings) -> RollupEngine | None:
    """What ``refresh_project``/``backfill_project`` take as ``rollup`` for the configured
    ``rollup_engine``: ``None`` for DuckDB (their default), a Spark job runner for ``spark``."""
    if settings.rollup_engine != "spark":
        return None
    runner = _submitter(settings)

    async def on_spark(
        conn: Connection, lake: Path | LakeLocation, project_id: str
    ) -> RollupReport:
        return await rollup_on_spark(conn, as_location(lake), project_id, runner)

    return on_spark


def day_signatures(location: LakeLocation, project_id: str) -> dict[date, str]:
    """Each day of the project's events and its file set's signature, exactly as the DuckDB
    path lists and signs it (``LakePartition.signature``: a merge's listed sources skipped), so
    either engine sees a day the other rolled up as unchanged."""
    return {p.day: p.signature for p in lake_partitions(location, project_id).get(project_id, [])}


async def rollup_on_spark(
    conn: Connection, location: LakeLocation, project_id: str, runner: SparkRunner
) -> RollupReport:
    """Roll the project's changed days up with a Spark job, and record them as rolled up."""
    report = RollupReport()
    signatures = await asyncio.to_thread(day_signatures, location, project_id)
    stored = {
        row["day"]: row["files"]
        for row in await conn.fetch(
            "SELECT day, files FROM rollup_partitions WHERE project_id = $1", project_id
        )
    }
    changed = sorted(day for day, signature in signatures.items() if stored.get(day) != signature)
    report.unchanged = len(signatures) - len(changed)
    if not changed:
        return report
    members = await conn.fetch(
        "SELECT user_id, account_id FROM user_current_accounts WHERE project_id = $1",
        project_id,
    )
    table = pa.table(
        {
            "project_id": pa.array([project_id] * len(members), pa.string()),
            "user_id": pa.array([r["user_id"] for r in members], pa.string()),
            "account_id": pa.array([r["account_id"] for r in members], pa.string()),
        }
    )
    key = location.path("rollups", _SPARK_DIR, f"members-{uuid.uuid4().hex}.parquet")
    fs = location.fs
    await asyncio.to_thread(_write_members, table, key, fs)
    try:
        job = SparkJob(
            lake_uri=_job_uri(location, location.root),
            members_uri=_job_uri(location, key),
            projects=(project_id,),
            # Every day changed (a first rollup): the job lists them itself.
            days=None if len(changed) == len(signatures) else tuple(changed),
            endpoint_url=location.endpoint_url,
        )
        result = await runner(job)
    finally:
        await asyncio.to_thread(fs.delete_file, key)
    counts = {
        date.fromisoformat(day): int(events)
        for day, events in result.get(project_id, {}).get("days", {}).items()
    }
    await conn.executemany(
        _UPSERT_PARTITIONS,
        [(project_id, day, signatures[day], counts.get(day, 0)) for day in changed],
    )
    report.partitions = len(changed)
    report.events = sum(counts.get(day, 0) for day in changed)
    return report


def _job_uri(location: LakeLocation, key: str) -> str:
    # Explicitly file:// on local disk: a bare path is the cluster's default file system.
    return ("file://" if location.local is not None else "s3://") + key


def _write_members(table: pa.Table, key: str, fs: pafs.FileSystem) -> None:
    fs.create_dir(key.rpartition("/")[0], recursive=True)
    pq.write_table(table, key, filesystem=fs, compression="zstd")


# -- running the job -----------------------------------------------------------------------


def spark_submit_command(
    settings: Settings, job: SparkJob, report: Path, spark_home: Path
) -> list[str]:
    """``spark-submit`` of the job to ``settings.spark_master``, its report written to
    ``report``. Local mode gets bounded resources and no UI; a cluster's own defaults apply."""
    command = [
        str(spark_home / "bin" / "spark-submit"),
        "--master",
        settings.spark_master,
        "--name",
        "cxloop-rollup",
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        "spark.log.level=WARN",
    ]
    if settings.spark_master.startswith("local"):
        command += [
            "--driver-memory",
            "1g",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=8",
        ]
    if job.endpoint_url:
        # Untested here (hadoop-aws is not in pyspark's wheel): docs/scaling.md.
        command += [
            "--conf",
            f"spark.hadoop.fs.s3a.endpoint={job.endpoint_url}",
            "--conf",
            "spark.hadoop.fs.s3a.path.style.access=true",
        ]
    return [*command, str(SPARK_JOB), *job.arguments(), "--report", str(report)]


def spark_home() -> Path:
    """``SPARK_HOME``, else the pyspark package's own Spark (``pip install 'cxloop[spark]'``)."""
    configured = os.environ.get("SPARK_HOME")
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SparkUnavailable(
            "CXLOOP_ROLLUP_ENGINE=spark needs Spark: pip install 'cxloop[spark]' (pyspark) or "
            "set SPARK_HOME to a Spark installation"
        )
    return Path(spec.origin).parent


def _java_present() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(home and (Path(home) / "bin" / "java").exists()) or shutil.which("java") is not None


# The last lines of a failed job's output kept in the error.
_ERROR_TAIL_LINES = 30


async def spark_submit(settings: Settings, job: SparkJob) -> dict[str, Any]:
    """Run the job with ``spark-submit`` and wait for it; its report."""
    home = spark_home()
    if not _java_present():
        raise SparkUnavailable(
            "CXLOOP_ROLLUP_ENGINE=spark needs a Java runtime (17): run "
            "scripts/install-system-deps.sh, or set JAVA_HOME"
        )
    env = dict(os.environ)
    # The driver runs the job file with this interpreter, which has pyspark (and the
    # executors run no Python: the job is DataFrame operations only).
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", env["PYSPARK_PYTHON"])
    with tempfile.TemporaryDirectory(prefix="cxloop-spark-") as scratch:
        report = Path(scratch) / "report.json"
        output = Path(scratch) / "output.log"
        command = spark_submit_command(settings, job, report, home)
        with output.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=sink, stderr=sink, env=env, cwd=scratch
            )
            code = await process.wait()
        if code != 0 or not report.exists():
            tail = output.read_text(errors="replace").splitlines()[-_ERROR_TAIL_LINES:]
            raise RuntimeError(
                f"the Spark rollup job failed (spark-submit exited {code}; master "
                f"{settings.spark_master}); its last output:\n" + "\n".join(tail)
            )
        decoded: dict[str, Any] = msgspec.json.decode(report.read_bytes())
    projects: dict[str, Any] = decoded["projects"]
    return projects


def _submitter(settings: Settings) -> SparkRunner:
    async def submit(job: SparkJob) -> dict[str, Any]:
        return await spark_submit(settings, job)

    return submit


def in_process(spark: SparkSession) -> SparkRunner:
    """A runner on a SparkSession of this process (tests, notebooks): no ``spark-submit``."""

    async def run(job: SparkJob) -> dict[str, Any]:
        from cxloop.health import spark_job

        days: Sequence[date] | None = job.days
        return await asyncio.to_thread(
            spark_job.run, spark, job.lake_uri, job.members_uri, job.projects, days
        )

    return run
