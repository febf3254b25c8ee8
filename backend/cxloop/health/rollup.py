"""Daily usage rollups from the Parquet lake, incrementally, into Parquet (DuckDB).

Two rollup stores sit next to the events, Hive-partitioned like them:

- ``lake/rollups/usage_feature/project_id=…/date=…``: events and active users per account and
  feature and day;
- ``lake/rollups/usage_user/project_id=…/date=…``: events per account and user and day (distinct
  active users over any window: MAU, WAU, seats).

A (project, day) partition's rollup is recomputed when its file set changed since the last run
(signatures in PostgreSQL, ``rollup_partitions``), but not by reading the day again: a busy
day changes all the time, and re-reading it on every refresh made a refresh cost as much as
the day held. Instead a third store keeps each lake file's usage before attribution:

- ``lake/rollups/usage_detail/project_id=…/date=…/<lake file stem>.<identity>.parquet``:
  events per (the event's own group, user, feature) of one lake file, named by the file's
  name, size and mtime (a rewrite makes a new identity; a merge's swap keeps the kept files'),
  plus ``day-sum.parquet``, the sum of the day's details, with the list it sums.

A refresh reads only the lake files without a detail. A merged file (lake/tidy.py) names its
sources in its footer: when each of them has a detail and the row counts agree, its detail is
their sum, and nothing is read. The day's sum is brought up to date by adding the new details
and subtracting those of files that are gone — integer sums, so exactly what summing every
file again gives (a merge swap replaces files by one holding the same rows: its detail adds
what its sources' subtract). Attribution to a user's current account happens after, on the
sum, with the memberships of the moment, as a rollup from nothing would. A day whose state was
dropped (an erasure or retention deleted its ``rollup_partitions`` row) starts from no detail.
The work never leaves DuckDB and Arrow: no row becomes a Python object. Attribution and
feature rules: docs/health.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.db import Connection
from cxloop.lake import (
    LakeFile,
    LakeLocation,
    as_location,
    delete_keys,
    live_files,
    partition_dir,
    project_dir,
    project_partitions,
    put_parquet,
)
from cxloop.wal import EVENT_LAKE_SCHEMA

__all__ = [
    "FEATURE_SQL",
    "ROLLUP_STORES",
    "LakeChanged",
    "LakePartition",
    "RollupReport",
    "lake_partitions",
    "literal_list",
    "rollup_project",
    "rollup_source",
]


@dataclass(frozen=True, slots=True)
class LakePartition:
    project_id: str
    day: date
    files: tuple[LakeFile, ...]

    @property
    def signature(self) -> str:
        """A digest of the file set as listed (names and sizes)."""
        listing = "\n".join(f"{f.name}:{f.size}" for f in self.files)
        return hashlib.sha256(listing.encode()).hexdigest()


@dataclass
class RollupReport:
    partitions: int = 0  # recomputed
    unchanged: int = 0
    events: int = 0  # usage events rolled up


def lake_partitions(
    lake: Path | LakeLocation, project_id: str | None = None
) -> dict[str, list[LakePartition]]:
    """Every (project, day) partition of the events store, by project (one project's when
    ``project_id`` is given)."""
    return {
        project: [LakePartition(project, day, tuple(files)) for day, files in sorted(days.items())]
        for project, days in sorted(project_partitions(lake, "events", project_id).items())
    }


def literal_list(paths: list[Path] | list[str]) -> str:
    # Our own paths, as quoted literals: a file list cannot be a bound parameter everywhere.
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _rel(store: str, project_id: str, day: date | None = None) -> str:
    """A store's project or partition directory, relative to the lake's root."""
    if day is None:
        return str(project_dir(Path(), store, project_id))
    return str(partition_dir(Path(), store, project_id, day))


def rollup_source(
    db: duckdb.DuckDBPyConnection, lake: Path | LakeLocation, store: str, project_id: str
) -> str | None:
    """A table expression over one project's rollup store, for ``db`` (on object storage a
    pyarrow dataset of the listed files, registered in ``db``); None when it is empty."""
    location = as_location(lake)
    directory = location.path(_rel(f"rollups/{store}", project_id))
    if location.local is not None:
        if not any(Path(directory).glob("date=*/*.parquet")):
            return None
        pattern = f"{directory}/date=*/*.parquet".replace("'", "''")
        return f"read_parquet('{pattern}', hive_partitioning = true, hive_types = {{'date': DATE}})"
    selector = pafs.FileSelector(directory, recursive=True, allow_not_found=True)
    keys = sorted(
        info.path
        for info in location.fs.get_file_info(selector)
        if info.type == pafs.FileType.File
        and info.path.endswith(".parquet")
        and info.path.rsplit("/", 2)[-2].startswith("date=")
    )
    if not keys:
        return None
    name = f"rollup_{store}"
    dataset = ds.dataset(
        keys,
        filesystem=location.fs,
        format="parquet",
        partitioning=_DATE_PARTITIONING,
        partition_base_dir=directory,
    )
    db.register(name, dataset)  # DuckDB pushes its projections and filters into the scan
    return name


_DATE_PARTITIONING = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")


# The feature an event counts towards (docs/health.md): a track's ``properties.feature``, else its
# event name; every page or screen view counts towards "page".
FEATURE_SQL = (
    "CASE WHEN e.type = 'track' "
    "THEN coalesce(json_extract_string(e.properties, '$.feature'), e.event) ELSE 'page' END"
)

# One lake file's usage before attribution (the ``usage_detail`` store): events per (the
# event's own account, user, feature). An event without a group of its own is attributed to
# its user's current account when the days are combined, so a file's detail never goes stale
# when memberships change. Rows no membership could ever attribute (no user id, no group) and
# events without a user are left out, as the combined rollup leaves them out.
_FILE_DETAIL = """
SELECT {file} AS file,
       e.group_id AS account_id,
       coalesce(e.user_id, e.anonymous_id) AS user_key,
       e.user_id IS NOT NULL AS identified,
       {feature} AS feature,
       count(*)::BIGINT AS events
FROM {source} AS e
WHERE e.type IN ('track', 'page', 'screen')
  AND NOT (e.type = 'track' AND starts_with(e.event, 'Survey '))
  AND coalesce(e.user_id, e.anonymous_id) IS NOT NULL
  AND (e.group_id IS NOT NULL OR e.user_id IS NOT NULL)
GROUP BY ALL
"""

DETAIL_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("user_key", pa.string()),
        ("identified", pa.bool_()),
        ("feature", pa.string()),
        ("events", pa.int64()),
    ]
)

# The days' grain, attributed: the sum of their files' details, with the current memberships.
_DETAIL = """
CREATE TEMP TABLE detail AS
SELECT d.date AS date,
       coalesce(d.account_id, m.account_id) AS account_id,
       d.user_key AS user_key,
       d.feature AS feature,
       sum(d.events)::BIGINT AS events
FROM {source} AS d
LEFT JOIN members AS m ON d.identified AND m.user_id = d.user_key
WHERE coalesce(d.account_id, m.account_id) IS NOT NULL
GROUP BY ALL
"""

_STORES = {
    "usage_feature": """
        SELECT date, account_id, feature, sum(events)::BIGINT AS events,
               count(*)::INTEGER AS active_users
        FROM detail GROUP BY ALL""",
    "usage_user": """
        SELECT date, account_id, user_key, sum(events)::BIGINT AS events
        FROM detail GROUP BY ALL""",
}
DETAIL_STORE = "usage_detail"
# In a day of ``usage_detail``: the sum of its files' details, and which details it sums.
DAY_SUM = "day-sum.parquet"
_COVERS = b"cxloop.covers"
_LAKE_ROWS = b"cxloop.lake_rows"
_MERGED_FROM = b"cxloop.merged_from"
# Every store under lake/rollups that names accounts and users, per day (privacy scans and
# recomputes them all; retention removes them all).
ROLLUP_STORES = (*_STORES, DETAIL_STORE)
# The one file of a day of a rollup store (DuckDB's COPY names it so; an object-store lake
# writes the same name).
_STORE_FILE = "part-0.parquet"


# Days rolled up by one DuckDB query, and their files' size: a backfill of a year of events
# is done a slice at a time, so its intermediate grain stays bounded (and cache-sized: the
# sliced rollup is also faster on bench_health's lake, BENCHMARKS.md).
CHUNK_DAYS = 10
CHUNK_BYTES = 1 << 30
# Lake files read by one detail query (their bytes; a larger file is read alone): the details
# of a first rollup of a big day come back as Arrow in slices of this much input.
DETAIL_READ_BYTES = 128 << 20
# DuckDB in a rollup or a score shares the machine with ingest and the pipeline: at most this
# many threads and this much memory (it spills past it, under lake/rollups/.tmp).
DUCKDB_THREADS = 1
DUCKDB_MEMORY = "256MB"
_TEMP_DIR = ".tmp"


def connect(lake: Path | LakeLocation) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded in threads and memory, spilling under the rollups (a
    local temp directory for an object-store lake)."""
    location = as_location(lake)
    if location.local is not None:
        temp = location.local / "rollups" / _TEMP_DIR
    else:
        temp = Path(tempfile.gettempdir()) / "cxloop-duckdb"
    return duckdb.connect(
        config={
            "threads": DUCKDB_THREADS,
            "memory_limit": DUCKDB_MEMORY,
            "temp_directory": str(temp),
            "preserve_insertion_order": False,
        }
    )


def chunks(
    partitions: list[LakePartition], max_days: int = CHUNK_DAYS, max_bytes: int = CHUNK_BYTES
) -> list[list[LakePartition]]:
    """Consecutive slices of at most ``max_days`` partitions and ``max_bytes`` of files (a
    single larger partition is a slice of its own)."""
    out: list[list[LakePartition]] = []
    size = 0
    for partition in partitions:
        partition_bytes = sum(f.size for f in partition.files)
        if not out or len(out[-1]) >= max_days or size + partition_bytes > max_bytes:
            out.append([])
            size = 0
        out[-1].append(partition)
        size += partition_bytes
    return out


# -- the rollups' files, on either kind of location ------------------------------------------
# Locally as before: a detail is written to a hidden temp, synced and renamed. On object
# storage a file is one PUT of its final key (it appears whole or not at all).


def _names(location: LakeLocation, directory: str) -> set[str]:
    """The Parquet files directly in ``directory`` (none when it does not exist)."""
    if location.local is not None:
        try:
            with os.scandir(directory) as entries:
                return {e.name for e in entries if e.name.endswith(".parquet") and e.is_file()}
        except FileNotFoundError:
            return set()
    selector = pafs.FileSelector(directory, allow_not_found=True)
    return {
        info.base_name
        for info in location.fs.get_file_info(selector)
        if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")
    }


def _exists(location: LakeLocation, key: str) -> bool:
    if location.local is not None:
        return Path(key).exists()
    return bool(location.fs.get_file_info(key).type == pafs.FileType.File)


def _remove_tree(location: LakeLocation, directory: str) -> None:
    if location.local is not None:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        location.fs.delete_dir_contents(directory, missing_dir_ok=True)


def _footer(location: LakeLocation, key: str) -> pq.FileMetaData:
    if location.local is not None:
        return pq.read_metadata(key)
    return pq.read_metadata(key, filesystem=location.fs)


def _metadata(location: LakeLocation, key: str) -> dict[bytes, bytes]:
    """A rollup or lake file's key-value metadata (the schema's)."""
    return dict(_footer(location, key).metadata or {})


def _detail_name(lake_file: LakeFile) -> str:
    """``<lake file stem>.<identity>.parquet``: the identity (name, size, mtime) changes
    whenever the lake file is rewritten (a rewrite is a new file renamed over the old one, or
    a new PUT of its key; a merge's swap hard-links the files it keeps, which keeps theirs)."""
    identity = f"{lake_file.name}\0{lake_file.size}\0{lake_file.mtime_ns}"
    digest = hashlib.blake2b(identity.encode(), digest_size=8).hexdigest()
    return f"{lake_file.name.removesuffix('.parquet')}.{digest}.parquet"


def _detail_dir(location: LakeLocation, project_id: str, day: date) -> str:
    return location.path(_rel(f"rollups/{DETAIL_STORE}", project_id, day))


def _lake_stem(detail_name: str) -> str:
    # ``<stem>.<identity>.parquet``; a cluster node's stem has a dot (part-<node>.<segment>).
    return detail_name.removesuffix(".parquet").rsplit(".", 1)[0]


def _write_detail(
    location: LakeLocation, table: pa.Table, final: str, metadata: dict[bytes, bytes]
) -> None:
    """A detail (or a day's sum of them), whole before it is named: a torn one must never
    be read."""
    table = table.replace_schema_metadata(metadata)
    if location.local is None:
        put_parquet(location, final, table, compression="zstd")
        return
    path = Path(final)
    temp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, temp, compression="zstd")
    with temp.open("rb") as handle:
        os.fsync(handle.fileno())
    temp.replace(path)


def _lake_rows(rows: int) -> dict[bytes, bytes]:
    return {_LAKE_ROWS: str(rows).encode()}


def _detail_rows(location: LakeLocation, key: str) -> int | None:
    raw = _metadata(location, key).get(_LAKE_ROWS)
    return int(raw) if raw is not None else None


def _derive_merged(
    location: LakeLocation,
    directory: str,
    details: dict[str, list[str]],
    listed: set[str],
    new: list[LakeFile],
) -> list[LakeFile]:
    """Write the details of new merged lake files as the sum of their sources' details, where
    the merged file names its sources (``cxloop.merged_from``, lake/rewrite.py), each source
    is gone from the listing and has exactly one detail, and the row counts agree; returns the
    new files still to read. ``details``: the day's detail names by lake file stem;
    ``listed``: the lake files' names now."""
    rest = []
    for lake_file in new:
        if not lake_file.name.startswith("part-m"):
            rest.append(lake_file)
            continue
        try:
            footer = _footer(location, lake_file.key)
        except FileNotFoundError:  # merged away in turn: _read_details says so
            rest.append(lake_file)
            continue
        sources = _merged_from(footer)
        parts = [details.get(name.removesuffix(".parquet"), []) for name in sources or ()]
        usable = (
            bool(sources)
            and not any(name in listed for name in sources or ())
            and all(len(found) == 1 for found in parts)
        )
        if not usable:
            rest.append(lake_file)
            continue
        keys = [f"{directory}/{found[0]}" for found in parts]
        rows = [_detail_rows(location, k) for k in keys]
        if any(r is None for r in rows) or sum(r or 0 for r in rows) != footer.num_rows:
            rest.append(lake_file)  # not provably the same rows: read it
            continue
        table = pa.concat_tables(
            pq.read_table(k, schema=DETAIL_SCHEMA, filesystem=location.fs) for k in keys
        )
        columns = ["account_id", "user_key", "identified", "feature"]
        summed = table.group_by(columns, use_threads=False).aggregate([("events", "sum")])
        summed = summed.rename_columns([*columns, "events"]).cast(DETAIL_SCHEMA)
        final = f"{directory}/{_detail_name(lake_file)}"
        _write_detail(location, summed, final, _lake_rows(footer.num_rows))
    return rest


def _merged_from(footer: pq.FileMetaData) -> list[str] | None:
    """The names of the files a merge replaced by this one (its footer says), else None."""
    raw = (footer.metadata or {}).get(_MERGED_FROM)
    if raw is None:
        return None
    names = json.loads(raw)
    return [str(n) for n in names] if isinstance(names, list) else None


class LakeChanged(FileNotFoundError):
    """Lake files listed for a rollup were merged or removed before they were read: the
    details of every other file are kept; list the lake again."""


def _read_details(
    db: duckdb.DuckDBPyConnection, location: LakeLocation, missing: list[tuple[LakeFile, str]]
) -> list[LakeFile]:
    """Roll these lake files up into their details (lake file, detail key), a batch of files
    per query; the lake files that were gone when read (merged away meanwhile)."""
    vanished: list[LakeFile] = []
    batches: list[list[tuple[LakeFile, str, int]]] = []
    size = 0
    for lake, detail in missing:
        file_bytes = lake.size
        try:
            rows = _footer(location, lake.key).num_rows
        except FileNotFoundError:
            vanished.append(lake)
            continue
        if not batches or size + file_bytes > DETAIL_READ_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((lake, detail, rows))
        size += file_bytes
    if location.local is None:
        for lake, detail, rows in (one for batch in batches for one in batch):
            try:
                _read_remote(db, location, lake, detail, rows)
            except (duckdb.Error, OSError):
                if _exists(location, lake.key):
                    raise
                vanished.append(lake)  # deleted since the listing (a merge finished)
        return vanished
    for batch in batches:
        try:
            _read_batch(db, location, batch)
        except (duckdb.IOException, FileNotFoundError):
            # A file of the batch was swapped away: the others one at a time.
            for one in batch:
                try:
                    _read_batch(db, location, [one])
                except (duckdb.IOException, FileNotFoundError):
                    if Path(one[0].key).exists():
                        raise
                    vanished.append(one[0])
    return vanished


def _read_batch(
    db: duckdb.DuckDBPyConnection, location: LakeLocation, batch: list[tuple[LakeFile, str, int]]
) -> None:
    """Local lake files into their details, one DuckDB read of the batch."""
    files = [lake.key for lake, _, _ in batch]
    source = f"read_parquet({literal_list(files)}, filename = true, union_by_name = true)"
    db.execute("DROP TABLE IF EXISTS file_detail")
    db.execute(
        "CREATE TEMP TABLE file_detail AS "
        + _FILE_DETAIL.format(file="e.filename", source=source, feature=FEATURE_SQL)
    )
    for lake, detail, rows in batch:
        table = db.sql(
            "SELECT * EXCLUDE (file) FROM file_detail WHERE file = $1", params=[lake.key]
        ).to_arrow_table()
        _write_detail(location, table.cast(DETAIL_SCHEMA), detail, _lake_rows(rows))


# The columns a detail reads, as the lake's schema types them (an older file without one of
# them reads it as nulls, as DuckDB's union_by_name does locally).
_DETAIL_COLUMNS = ["type", "event", "properties", "user_id", "anonymous_id", "group_id"]
_DETAIL_READ_SCHEMA = pa.schema([EVENT_LAKE_SCHEMA.field(name) for name in _DETAIL_COLUMNS])
_REMOTE_BATCH_ROWS = 64 * 1024


def _read_remote(
    db: duckdb.DuckDBPyConnection, location: LakeLocation, lake: LakeFile, detail: str, rows: int
) -> None:
    """One object-store lake file into its detail: pyarrow reads it (its own S3 client, the
    columns the detail needs, a batch at a time) and DuckDB aggregates the stream."""
    dataset = ds.dataset(
        [lake.key], filesystem=location.fs, format="parquet", schema=_DETAIL_READ_SCHEMA
    )
    reader = dataset.scanner(batch_size=_REMOTE_BATCH_ROWS, use_threads=False).to_reader()
    db.register("lake_file", reader)
    try:
        query = _FILE_DETAIL.format(file="NULL", source="lake_file", feature=FEATURE_SQL)
        table = db.sql(f"SELECT * EXCLUDE (file) FROM ({query})").to_arrow_table()  # noqa: S608
    finally:
        db.unregister("lake_file")
    _write_detail(location, table.cast(DETAIL_SCHEMA), detail, _lake_rows(rows))


def _day_sum(
    db: duckdb.DuckDBPyConnection, location: LakeLocation, directory: str, wanted: set[str]
) -> str:
    """The day's ``DAY_SUM``: the sum of the details ``wanted`` (the day's lake files now),
    brought up to date from the one it replaces by adding the new details and subtracting
    the ones whose lake files are gone (integer sums: exact), or summed afresh."""
    path = f"{directory}/{DAY_SUM}"
    try:
        raw = _metadata(location, path).get(_COVERS)
        covered: set[str] | None = set(json.loads(raw)) if raw is not None else None
    except FileNotFoundError:
        covered = None
    if covered == wanted:
        return path
    every = [(f"{directory}/{n}", 1) for n in sorted(wanted)]
    present = _names(location, directory) if covered is not None else set()
    if covered is not None and covered - wanted <= present:
        terms = [(path, 1)]
        terms += [(f"{directory}/{n}", 1) for n in sorted(wanted - covered)]
        terms += [(f"{directory}/{n}", -1) for n in sorted(covered - wanted)]
        table = _sum_details(db, location, terms)
        if table.num_rows and pc.min(table["events"]).as_py() < 0:
            table = _sum_details(db, location, every)  # a detail changed under its name
    else:
        table = _sum_details(db, location, every)
    _write_detail(location, table, path, {_COVERS: json.dumps(sorted(wanted)).encode()})
    return path


def _sum_details(
    db: duckdb.DuckDBPyConnection, location: LakeLocation, terms: list[tuple[str, int]]
) -> pa.Table:
    """Σ sign × events over these detail files, per key; keys summing to 0 left out."""
    if location.local is None:
        parts = []
        for key, sign in terms:
            table = pq.read_table(key, filesystem=location.fs, schema=DETAIL_SCHEMA)
            parts.append(table.append_column("sign", pa.array([sign] * table.num_rows, pa.int64())))
        db.register("terms", pa.concat_tables(parts) if parts else _EMPTY_TERMS)
        source = "terms AS d"
        sign_of = "d.sign"
    else:
        signs = pa.table(
            {
                "file": pa.array([key for key, _ in terms], pa.string()),
                "sign": pa.array([sign for _, sign in terms], pa.int64()),
            }
        )
        db.register("terms", signs)
        files = literal_list([key for key, _ in terms])
        source = (
            f"read_parquet({files}, filename = true) AS d JOIN terms AS s ON s.file = d.filename"
        )
        sign_of = "s.sign"
    try:
        query = (
            "SELECT d.account_id, d.user_key, d.identified, d.feature, "  # noqa: S608 - our paths
            f"sum(d.events * {sign_of})::BIGINT AS events FROM {source} "
            f"GROUP BY ALL HAVING sum(d.events * {sign_of}) <> 0"
        )
        return db.sql(query).to_arrow_table().cast(DETAIL_SCHEMA)
    finally:
        db.unregister("terms")


_EMPTY_TERMS = DETAIL_SCHEMA.empty_table().append_column("sign", pa.array([], pa.int64()))


# Listings of a chunk's days one rollup makes before it gives up to its caller.
RELISTS = 20


def _listing(location: LakeLocation, project_id: str, day: date) -> list[LakeFile]:
    return live_files(location, _rel("events", project_id, day))


def _prepare_details(
    db: duckdb.DuckDBPyConnection,
    location: LakeLocation,
    project_id: str,
    files: dict[date, list[LakeFile]],
) -> tuple[dict[date, set[str]], list[LakeFile]]:
    """Make the missing details of these days' files: the detail names each day needs, and
    the listed files that were gone when read."""
    missing: list[tuple[LakeFile, str]] = []
    wanted: dict[date, set[str]] = {}
    for day, listed_files in files.items():
        directory = _detail_dir(location, project_id, day)
        if location.local is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
        present = _names(location, directory) - {DAY_SUM}
        names = {f: _detail_name(f) for f in listed_files}
        wanted[day] = set(names.values())
        new = [f for f, name in names.items() if name not in present]
        if new:
            known: dict[str, list[str]] = {}
            for name in present:
                known.setdefault(_lake_stem(name), []).append(name)
            listed = {f.name for f in listed_files}
            new = _derive_merged(location, directory, known, listed, new)
        missing += [(f, f"{directory}/{names[f]}") for f in new]
    vanished = _read_details(db, location, missing)
    return wanted, vanished


def _build(
    lake: Path | LakeLocation,
    project_id: str,
    partitions: list[LakePartition],
    members: pa.Table,
    forgotten: frozenset[date] = frozenset(),
) -> dict[date, int]:
    """Bring each partition's file details up to date (reading only the lake files that have
    none), combine them into the days' rollups, then put each day in place. A day in
    ``forgotten`` (its rollup state was dropped: an erasure, retention) starts from no detail
    at all."""
    location = as_location(lake)
    with connect(location) as db:
        for partition in partitions:
            if partition.day in forgotten:
                _remove_tree(location, _detail_dir(location, project_id, partition.day))
        files = {p.day: list(p.files) for p in partitions}
        for _ in range(RELISTS):
            wanted, vanished = _prepare_details(db, location, project_id, files)
            if not vanished:
                break
            # Merged away since they were listed: the days' files again. The details made
            # are kept, so a pass reads only what is new (tidy merges tiny files every
            # few seconds while ingest runs: the first listing rarely survives a long read).
            files = {day: _listing(location, project_id, day) for day in files}
            if not all(files.values()):  # a day left the lake (retention): list it all
                break
        if vanished:
            raise LakeChanged(
                f"{len(vanished)} lake file(s) merged away while rolling up, e.g. {vanished[0].key}"
            )
        details = {
            p.day: _day_sum(db, location, _detail_dir(location, project_id, p.day), wanted[p.day])
            for p in partitions
        }
        db.register("members", members)
        db.execute(_DETAIL.format(source=_day_sums_source(db, location, details)))
        counts = dict(db.execute("SELECT date, sum(events) FROM detail GROUP BY ALL").fetchall())
        days = [p.day for p in partitions]
        if location.local is not None:
            _write_stores_local(db, location.local, project_id, days)
        else:
            _write_stores_remote(db, location, project_id, days)
    # Details of lake files that are gone (merged, rewritten): no longer part of any day.
    for partition in partitions:
        directory = _detail_dir(location, project_id, partition.day)
        stale = _names(location, directory) - wanted[partition.day] - {DAY_SUM}
        if location.local is not None:
            for name in stale:
                Path(directory, name).unlink(missing_ok=True)
        else:
            delete_keys(location, [f"{directory}/{name}" for name in stale])
    return {day: int(n) for day, n in counts.items()}


def _day_sums_source(
    db: duckdb.DuckDBPyConnection, location: LakeLocation, day_sums: dict[date, str]
) -> str:
    """The days' sums with their ``date``, as a table expression for ``_DETAIL``."""
    if location.local is not None:
        files = literal_list(list(day_sums.values()))
        return (
            f"read_parquet({files}, hive_partitioning = true, "
            "hive_types = {'project_id': VARCHAR, 'date': DATE})"
        )
    parts = []
    for day, key in day_sums.items():
        table = pq.read_table(key, filesystem=location.fs, schema=DETAIL_SCHEMA)
        parts.append(table.append_column("date", pa.array([day] * table.num_rows, pa.date32())))
    db.register("day_sums", pa.concat_tables(parts))
    return "day_sums"


def _write_stores_local(
    db: duckdb.DuckDBPyConnection, lake_dir: Path, project_id: str, days: list[date]
) -> None:
    """Each store's days written by DuckDB into a staging directory, then renamed into place
    day by day."""
    staging = lake_dir / "rollups" / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        for store, query in _STORES.items():
            target = str(staging / store).replace("'", "''")
            db.execute(
                f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, "
                "PARTITION_BY (date), FILENAME_PATTERN 'part-{i}')"
            )
        for store in _STORES:
            for day in days:
                final = partition_dir(lake_dir / "rollups", store, project_id, day)
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():
                    shutil.rmtree(final)
                built = staging / store / final.name
                if built.exists():
                    built.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_stores_remote(
    db: duckdb.DuckDBPyConnection, location: LakeLocation, project_id: str, days: list[date]
) -> None:
    """Each store's day as one PUT of ``part-0.parquet`` (S3 replaces an object atomically: a
    reader sees the day before or after); a day left with no rows loses its objects."""
    for store, query in _STORES.items():
        db.execute(f"CREATE OR REPLACE TEMP TABLE store_rows AS {query}")
        for day in days:
            directory = location.path(_rel(f"rollups/{store}", project_id, day))
            table = db.sql(
                "SELECT * EXCLUDE (date) FROM store_rows WHERE date = $1", params=[day]
            ).to_arrow_table()
            if table.num_rows == 0:
                _remove_tree(location, directory)
                continue
            put_parquet(location, f"{directory}/{_STORE_FILE}", table, compression="zstd")
            others = _names(location, directory) - {_STORE_FILE}
            delete_keys(location, [f"{directory}/{name}" for name in others])
        db.execute("DROP TABLE store_rows")


async def rollup_project(
    conn: Connection, lake: Path | LakeLocation, project_id: str, partitions: list[LakePartition]
) -> RollupReport:
    """Recompute the changed partitions of one project."""
    location = as_location(lake)
    report = RollupReport()
    stored = {
        row["day"]: row["files"]
        for row in await conn.fetch(
            "SELECT day, files FROM rollup_partitions WHERE project_id = $1", project_id
        )
    }
    signatures = {p.day: p.signature for p in partitions}
    changed = [p for p in partitions if stored.get(p.day) != signatures[p.day]]
    report.unchanged = len(partitions) - len(changed)
    await asyncio.to_thread(prune_details, location, project_id)
    if not changed:
        return report
    members = await conn.fetch(
        "SELECT user_id, account_id FROM user_current_accounts WHERE project_id = $1",
        project_id,
    )
    member_table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in members], pa.string()),
            "account_id": pa.array([r["account_id"] for r in members], pa.string()),
        }
    )
    # Days without a stored signature were never rolled up, or their state was dropped (an
    # erasure, retention): their file details, if any, are not trusted.
    forgotten = frozenset(p.day for p in changed if p.day not in stored)
    events: dict[date, int] = {}
    for part in chunks(changed):
        # DuckDB works on its own threads and releases the GIL: off the event loop.
        events |= await asyncio.to_thread(
            _build, location, project_id, part, member_table, forgotten
        )
    await conn.executemany(
        """INSERT INTO rollup_partitions (project_id, day, files, rows, rolled_at)
           VALUES ($1, $2, $3, $4, now())
           ON CONFLICT (project_id, day)
           DO UPDATE SET files = EXCLUDED.files, rows = EXCLUDED.rows, rolled_at = now()""",
        [(project_id, p.day, signatures[p.day], events.get(p.day, 0)) for p in changed],
    )
    report.partitions = len(changed)
    report.events = sum(events.values())
    return report


def prune_details(lake: Path | LakeLocation, project_id: str) -> int:
    """Remove the file details of days whose events have left the lake (retention that keeps
    the rollups): nothing is left for them to sum. How many days."""
    location = as_location(lake)
    removed = 0
    if location.local is not None:
        root = project_dir(location.local / "rollups", DETAIL_STORE, project_id)
        for directory in sorted(root.glob("date=*")):
            day = date.fromisoformat(directory.name.split("=", 1)[1])
            events = partition_dir(location.local, "events", project_id, day)
            if not any(events.glob("*.parquet")):
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        return removed
    detail_root = location.path(_rel(f"rollups/{DETAIL_STORE}", project_id))
    selector = pafs.FileSelector(detail_root, allow_not_found=True)
    detail_days = [
        info.base_name
        for info in location.fs.get_file_info(selector)
        if info.type == pafs.FileType.Directory and info.base_name.startswith("date=")
    ]
    if not detail_days:
        return 0
    with_events = project_partitions(location, "events", project_id).get(project_id, {})
    for name in sorted(detail_days):
        if date.fromisoformat(name.split("=", 1)[1]) not in with_events:
            _remove_tree(location, f"{detail_root}/{name}")
            removed += 1
    return removed
