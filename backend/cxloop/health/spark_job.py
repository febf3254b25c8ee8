"""The health rollups on Apache Spark: ``usage_feature`` and ``usage_user`` from the lake's events.

A standalone job, shipped to a cluster as this one file, so it imports only pyspark and the
standard library::

    spark-submit --master <master> spark_job.py --lake <lake URI> --members <members.parquet>
        [--project <id> ...] [--day YYYY-MM-DD ...] [--report <report.json>]

It computes what ``health/rollup.py`` computes with DuckDB, row for row and type for type
(docs/health.md has the rules; a test compares the two engines on the same lake):

- an event counts when it is a track, page or screen (not a ``Survey *`` track) with a user
  (``userId``, else ``anonymousId``) and an account (its ``groupId``, else — identified users
  only — the user's current account in ``--members``);
- its feature is a track's ``properties.feature``, else its event name; ``page`` for views;
- ``usage_feature``: ``account_id, feature, events, active_users`` per account, feature, day;
- ``usage_user``: ``account_id, user_key, events`` per account, user, day;

written under ``<lake>/rollups/<store>/project_id=<id>/date=<day>/`` (zstd Parquet; one file per
day), the layout the score reads. The days it covers (those of the lake with events, or the
``--day``s among them) are replaced whole, and a covered day without usage loses its rollup
files; other days are left alone, so a run is idempotent. ``--members`` is Parquet with
``project_id, user_id, account_id`` (PostgreSQL's ``user_current_accounts``): the attribution
of the moment, as the DuckDB path applies it.

The lake's own rules apply to what is read: lake files are ``*.parquet`` in the day
directories, and a file that a merged file of the same listing names as a source
(``cxloop.merged_from`` in its footer) is skipped — on object storage a merge's result and its
sources can be listed together until the sources are deleted. A listed file that disappears
while being read (merged away meanwhile) makes the project be listed and read again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from urllib.parse import unquote

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

__all__ = ["EVENT_COLUMNS", "ROLLUP_STORES", "main", "run", "spark_uri"]

# The event columns the rollups read (the lake's files hold more; older files may lack some:
# missing columns read as null, as DuckDB's union_by_name reads them).
EVENT_COLUMNS = T.StructType(
    [
        T.StructField("type", T.StringType()),
        T.StructField("event", T.StringType()),
        T.StructField("user_id", T.StringType()),
        T.StructField("anonymous_id", T.StringType()),
        T.StructField("group_id", T.StringType()),
        T.StructField("properties", T.StringType()),
    ]
)
ROLLUP_STORES = ("usage_feature", "usage_user")
_MERGED_FROM = "cxloop.merged_from"
_MERGED_NAME = re.compile(r"part-m[0-9a-f]{20}\.parquet")  # lake/tidy.py's merged_name
_DRIVER_LISTING = 4096
# Listings of a project one run makes before it gives up (files merged away mid-read).
_ATTEMPTS = 5
# Spark's names for a file that was listed but is gone when read.
_MISSING_FILE = ("FileNotFoundException", "FILE_NOT_EXIST", "PATH_NOT_FOUND")


def spark_uri(uri: str) -> str:
    """The lake's URI as Hadoop names it: ``s3://`` is the S3A connector (``s3a://``)."""
    return "s3a://" + uri[len("s3://") :] if uri.startswith("s3://") else uri


class _Lake:
    """Listing and deleting through Hadoop's FileSystem (the driver's JVM): the same code
    for a local directory, S3A, HDFS or any store Spark is configured for."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        self._jvm: Any = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self.root = root.rstrip("/")
        self._fs = self._path(self.root).getFileSystem(self._conf)

    def _path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def children(self, uri: str) -> list[tuple[str, bool, int]]:
        """(name, is a directory, bytes) of what is directly under ``uri``; [] when absent."""
        path = self._path(uri)
        if not self._fs.exists(path):
            return []
        return [
            (s.getPath().getName(), bool(s.isDirectory()), int(s.getLen()))
            for s in self._fs.listStatus(path)
        ]

    def delete(self, uri: str) -> None:
        self._fs.delete(self._path(uri), True)

    def footer_value(self, uri: str, key: str) -> str | None:
        """One key of a Parquet file's footer metadata (Spark's own Parquet reader)."""
        jvm = self._jvm
        source = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(
            self._path(uri), self._conf
        )
        reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(source)
        try:
            value = reader.getFooter().getFileMetaData().getKeyValueMetaData().get(key)
        finally:
            reader.close()
        return None if value is None else str(value)

    def without_checksums(self) -> None:
        # Hadoop's local filesystem writes a hidden .crc beside each file; the lake has none.
        if self._fs.getUri().getScheme() == "file":
            self._fs.setWriteChecksum(False)
            self._fs.setVerifyChecksum(False)


def _project_dirs(lake: _Lake, projects: Sequence[str] | None) -> list[tuple[str, str]]:
    """(directory name, project id) of the event store's projects (``--project`` ones only)."""
    wanted = set(projects) if projects else None
    out = []
    for name, is_dir, _ in sorted(lake.children(f"{lake.root}/events")):
        if not is_dir or not name.startswith("project_id="):
            continue
        project_id = unquote(name.split("=", 1)[1])
        if wanted is None or project_id in wanted:
            out.append((name, project_id))
    return out


def _day_files(lake: _Lake, project_uri: str, days: set[str] | None) -> dict[str, list[str]]:
    """The lake files of each day of one project (``days`` only): ``*.parquet`` of the day's
    directory, less the sources that a merged file of the listing names."""
    out: dict[str, list[str]] = {}
    for name, is_dir, _ in sorted(lake.children(project_uri)):
        if not is_dir or not name.startswith("date="):
            continue
        day = name.split("=", 1)[1]
        if days is not None and day not in days:
            continue
        directory = f"{project_uri}/{name}"
        files = sorted(
            n
            for n, sub, _ in lake.children(directory)
            if not sub and n.endswith(".parquet") and not n.startswith((".", "_"))
        )
        replaced: set[str] = set()
        for merged in (n for n in files if _MERGED_NAME.fullmatch(n)):
            try:
                raw = lake.footer_value(f"{directory}/{merged}", _MERGED_FROM)
            except Exception as exc:  # gone since the listing: list again
                if _is_missing_file(exc):
                    raise _Relist from exc
                raise
            if raw is not None:  # (a merge may write over one of its sources' names)
                replaced.update(str(n) for n in json.loads(raw) if n != merged)
        kept = [f"{directory}/{n}" for n in files if n not in replaced]
        if kept:
            out[day] = kept
    return out


class _Relist(Exception):
    """A listed lake file is gone (merged away): list the project again."""


def _is_missing_file(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return any(marker in text for marker in _MISSING_FILE)


def _feature() -> Column:
    # docs/health.md: a track's properties.feature, else its event name; views count as "page".
    return (
        F.when(
            F.col("type") == "track",
            F.coalesce(F.get_json_object("properties", "$.feature"), F.col("event")),
        )
        .otherwise(F.lit("page"))
        .alias("feature")
    )


def _usage(events: DataFrame, members: DataFrame) -> DataFrame:
    """Events per (date, account, user, feature), attributed: rollup.py's ``detail``."""
    user_key = F.coalesce("user_id", "anonymous_id")
    # Written as rollup.py's WHERE, null semantics included (a track without a name is not
    # usage: NOT (true AND NULL) is NULL).
    counted = (
        F.col("type").isin("track", "page", "screen")
        & ~((F.col("type") == "track") & F.col("event").startswith("Survey "))
        & user_key.isNotNull()
        & (F.col("group_id").isNotNull() | F.col("user_id").isNotNull())
    )
    detail = (
        events.where(counted)
        .select(
            F.col("date").cast(T.DateType()).alias("date"),
            F.col("group_id").alias("own_account"),
            user_key.alias("user_key"),
            F.col("user_id").isNotNull().alias("identified"),
            _feature(),
        )
        .groupBy("date", "own_account", "user_key", "identified", "feature")
        .agg(F.count(F.lit(1)).alias("events"))
    )
    member = members.select(
        F.col("user_id").alias("member_user"), F.col("account_id").alias("member_account")
    )
    joined = detail.join(
        member, detail["identified"] & (detail["user_key"] == member["member_user"]), "left"
    )
    return (
        joined.select(
            "date",
            F.coalesce("own_account", "member_account").alias("account_id"),
            "user_key",
            "feature",
            "events",
        )
        .where(F.col("account_id").isNotNull())
        .groupBy("date", "account_id", "user_key", "feature")
        .agg(F.sum("events").cast(T.LongType()).alias("events"))
    )


def _stores(usage: DataFrame) -> dict[str, DataFrame]:
    """The two stores, columns in rollup.py's order and types (BIGINT events, INTEGER users)."""
    return {
        "usage_feature": usage.groupBy("date", "account_id", "feature").agg(
            F.sum("events").cast(T.LongType()).alias("events"),
            # A sum, not count(): Spark writes a count as a required column, DuckDB as optional.
            F.sum(F.lit(1)).cast(T.IntegerType()).alias("active_users"),
        ),
        "usage_user": usage.groupBy("date", "account_id", "user_key").agg(
            F.sum("events").cast(T.LongType()).alias("events")
        ),
    }


def _write(store: DataFrame, target: str, keys: Sequence[str]) -> None:
    """Replace the days present in ``store`` under ``target``, one sorted file per day."""
    (
        store.repartition("date")
        .sortWithinPartitions("date", *keys)
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .option("compression", "zstd")
        .partitionBy("date")
        .parquet(target)
    )


_SORT_KEYS = {"usage_feature": ("account_id", "feature"), "usage_user": ("account_id", "user_key")}


def _rollup_project(
    spark: SparkSession,
    lake: _Lake,
    directory: str,
    members: DataFrame,
    days: set[str] | None,
) -> dict[str, Any]:
    """Roll one project's days up and write them; the usage events per day and files read."""
    project_uri = f"{lake.root}/events/{directory}"
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            files = _day_files(lake, project_uri, days)
            if not files:
                return {"days": {}, "files": 0, "attempts": attempt}
            events = (
                spark.read.schema(EVENT_COLUMNS)
                .option("basePath", project_uri)
                .parquet(*(f for day in sorted(files) for f in files[day]))
            )
            usage = _usage(events, members).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                # Reads every listed file (a file merged away meanwhile fails here, before any
                # write) and keeps the result for both stores.
                per_day = usage.groupBy("date").agg(F.sum("events").alias("events")).collect()
                counts = {row["date"].isoformat(): int(row["events"]) for row in per_day}
                for store, frame in _stores(usage).items():
                    target = f"{lake.root}/rollups/{store}/{directory}"
                    _write(frame, target, _SORT_KEYS[store])
                    for day in set(files) - set(counts):  # covered, but no usage left
                        lake.delete(f"{target}/date={day}")
            finally:
                usage.unpersist()
            return {"days": counts, "files": sum(map(len, files.values())), "attempts": attempt}
        except Exception as exc:
            if attempt == _ATTEMPTS or not (isinstance(exc, _Relist) or _is_missing_file(exc)):
                raise
    raise AssertionError("unreachable")


def run(
    spark: SparkSession,
    lake_uri: str,
    members_uri: str,
    projects: Sequence[str] | None = None,
    days: Iterable[date | str] | None = None,
) -> dict[str, Any]:
    """Roll the lake up (``projects``, ``days``: only those); per project id, the usage events
    per day rolled up, the files read and the listings it took."""
    lake = _Lake(spark, spark_uri(lake_uri))
    lake.without_checksums()
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")  # no _SUCCESS files
    # A numeric-looking date directory stays text here (cast on read); project ids never
    # come from the paths (each project is read below its own directory).
    spark.conf.set("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
    # The job names every file it reads: past this many paths Spark runs a job of its own
    # just to stat them (one task per path), which costs more than the driver's calls.
    discovery = "spark.sql.sources.parallelPartitionDiscovery.threshold"
    spark.conf.set(discovery, str(max(int(spark.conf.get(discovery) or 32), _DRIVER_LISTING)))
    wanted_days = None if days is None else {str(d) for d in days}
    all_members = spark.read.parquet(spark_uri(members_uri))
    out: dict[str, Any] = {}
    for directory, project_id in _project_dirs(lake, projects):
        members = all_members.where(F.col("project_id") == project_id)
        out[project_id] = _rollup_project(spark, lake, directory, members, wanted_days)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lake", required=True, help="the lake's root: a path, file://, s3a://")
    parser.add_argument("--members", required=True, help="Parquet: project_id, user_id, account_id")
    parser.add_argument("--project", action="append", help="only this project (repeatable)")
    parser.add_argument(
        "--day", action="append", type=date.fromisoformat, help="only this day (repeatable)"
    )
    parser.add_argument("--report", help="write the per-project report here as JSON")
    args = parser.parse_args(argv)
    spark = SparkSession.builder.appName("cxloop-rollup").getOrCreate()
    try:
        report = run(spark, args.lake, args.members, args.project, args.day)
    finally:
        spark.stop()
    text = json.dumps({"projects": report}, sort_keys=True)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
