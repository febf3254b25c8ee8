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
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxloop.db import Connection
from cxloop.lake import partition_dir, project_dir

__all__ = [
    "FEATURE_SQL",
    "ROLLUP_STORES",
    "LakeChanged",
    "LakePartition",
    "RollupReport",
    "lake_partitions",
    "literal_list",
    "rollup_glob",
    "rollup_project",
]


@dataclass(frozen=True, slots=True)
class LakePartition:
    project_id: str
    day: date
    files: tuple[Path, ...]

    @property
    def signature(self) -> str:
        """A digest of the file set; "" when a file is gone since the listing (merged away:
        the day then counts as changed, now and at the next rollup)."""
        try:
            listing = "\n".join(f"{p.name}:{p.stat().st_size}" for p in self.files)
        except FileNotFoundError:
            return ""
        return hashlib.sha256(listing.encode()).hexdigest()


@dataclass
class RollupReport:
    partitions: int = 0  # recomputed
    unchanged: int = 0
    events: int = 0  # usage events rolled up


def lake_partitions(lake_dir: Path) -> dict[str, list[LakePartition]]:
    """Every (project, day) partition of the events store, by project."""
    out: dict[str, list[LakePartition]] = {}
    root = lake_dir / "events"
    if not root.is_dir():
        return out
    for directory in sorted(root.glob("project_id=*")):
        project_id = unquote(directory.name.split("=", 1)[1])
        for day_dir in sorted(directory.glob("date=*")):
            files = tuple(sorted(day_dir.glob("*.parquet")))
            if files:
                day = date.fromisoformat(day_dir.name.split("=", 1)[1])
                out.setdefault(project_id, []).append(LakePartition(project_id, day, files))
    return out


def literal_list(paths: list[Path] | list[str]) -> str:
    # Our own paths, as quoted literals: a file list cannot be a bound parameter everywhere.
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def rollup_glob(lake_dir: Path, store: str, project_id: str) -> str | None:
    """A read_parquet() source over one project's rollup store; None when it is empty."""
    directory = project_dir(lake_dir / "rollups", store, project_id)
    if not any(directory.glob("date=*/*.parquet")):
        return None
    pattern = str(directory / "date=*" / "*.parquet").replace("'", "''")
    return f"read_parquet('{pattern}', hive_partitioning = true, hive_types = {{'date': DATE}})"


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
SELECT e.filename AS file,
       e.group_id AS account_id,
       coalesce(e.user_id, e.anonymous_id) AS user_key,
       e.user_id IS NOT NULL AS identified,
       {feature} AS feature,
       count(*)::BIGINT AS events
FROM read_parquet({files}, filename = true, union_by_name = true) AS e
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
FROM read_parquet({files}, hive_partitioning = true,
                  hive_types = {{'project_id': VARCHAR, 'date': DATE}}) AS d
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
# Every store under lake/rollups that names accounts and users, per day (privacy scans and
# recomputes them all; retention removes them all).
ROLLUP_STORES = (*_STORES, DETAIL_STORE)


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


def connect(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded in threads and memory, spilling under the rollups."""
    temp = lake_dir / "rollups" / _TEMP_DIR
    return duckdb.connect(
        config={
            "threads": DUCKDB_THREADS,
            "memory_limit": DUCKDB_MEMORY,
            "temp_directory": str(temp),
            "preserve_insertion_order": False,
        }
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # merged away since the listing: the rollup lists again
        return 0


def chunks(
    partitions: list[LakePartition], max_days: int = CHUNK_DAYS, max_bytes: int = CHUNK_BYTES
) -> list[list[LakePartition]]:
    """Consecutive slices of at most ``max_days`` partitions and ``max_bytes`` of files (a
    single larger partition is a slice of its own)."""
    out: list[list[LakePartition]] = []
    size = 0
    for partition in partitions:
        partition_bytes = sum(_size(f) for f in partition.files)
        if not out or len(out[-1]) >= max_days or size + partition_bytes > max_bytes:
            out.append([])
            size = 0
        out[-1].append(partition)
        size += partition_bytes
    return out


def _detail_name(lake_file: Path) -> str:
    """``<lake file stem>.<identity>.parquet``: the identity (name, size, mtime) changes
    whenever the lake file is rewritten (a rewrite is a new file renamed over the old one; a
    merge's swap hard-links the files it keeps, which keeps theirs)."""
    stat = lake_file.stat()
    identity = f"{lake_file.name}\0{stat.st_size}\0{stat.st_mtime_ns}"
    digest = hashlib.blake2b(identity.encode(), digest_size=8).hexdigest()
    return f"{lake_file.stem}.{digest}.parquet"


def _detail_dir(lake_dir: Path, project_id: str, day: date) -> Path:
    return partition_dir(lake_dir / "rollups", DETAIL_STORE, project_id, day)


def _lake_stem(detail: Path) -> str:
    return detail.name.split(".", 1)[0]


def _write_detail(table: pa.Table, final: Path, metadata: dict[bytes, bytes]) -> None:
    """A detail (or a day's sum of them), durable before it is named: a torn one must never
    be read."""
    temp = final.with_name(f".{final.name}.tmp")
    pq.write_table(table.replace_schema_metadata(metadata), temp, compression="zstd")
    with temp.open("rb") as handle:
        os.fsync(handle.fileno())
    temp.replace(final)


def _lake_rows(rows: int) -> dict[bytes, bytes]:
    return {_LAKE_ROWS: str(rows).encode()}


def _detail_rows(path: Path) -> int | None:
    metadata = pq.read_schema(path).metadata or {}
    raw = metadata.get(_LAKE_ROWS)
    return int(raw) if raw is not None else None


def _derive_merged(
    directory: Path, details: dict[str, list[Path]], listed: set[str], new: list[Path]
) -> list[Path]:
    """Write the details of new merged lake files as the sum of their sources' details, where
    the merged file names its sources (``cxloop.merged_from``, lake/rewrite.py), each source
    is gone from the listing and has exactly one detail, and the row counts agree; returns the
    new files still to read. ``details``: the day's detail files by lake file stem;
    ``listed``: the lake files' names now."""
    rest = []
    for lake_file in new:
        try:
            sources = _merged_from(lake_file)
            lake_rows = pq.read_metadata(lake_file).num_rows
        except FileNotFoundError:  # merged away in turn: _read_details says so
            rest.append(lake_file)
            continue
        parts = [details.get(Path(name).stem, []) for name in sources or ()]
        usable = (
            bool(sources)
            and not any(name in listed for name in sources or ())
            and all(len(found) == 1 for found in parts)
        )
        if not usable:
            rest.append(lake_file)
            continue
        paths = [found[0] for found in parts]
        rows = [_detail_rows(p) for p in paths]
        if any(r is None for r in rows) or sum(r or 0 for r in rows) != lake_rows:
            rest.append(lake_file)  # not provably the same rows: read it
            continue
        table = pa.concat_tables(pq.read_table(p, schema=DETAIL_SCHEMA) for p in paths)
        keys = ["account_id", "user_key", "identified", "feature"]
        summed = table.group_by(keys, use_threads=False).aggregate([("events", "sum")])
        summed = summed.rename_columns([*keys, "events"]).cast(DETAIL_SCHEMA)
        _write_detail(summed, directory / _detail_name(lake_file), _lake_rows(lake_rows))
    return rest


def _merged_from(lake_file: Path) -> list[str] | None:
    """The names of the files a merge replaced by this one (its footer says), else None."""
    if not lake_file.name.startswith("part-m"):
        return None
    raw = (pq.read_schema(lake_file).metadata or {}).get(b"cxloop.merged_from")
    if raw is None:
        return None
    names = json.loads(raw)
    return [str(n) for n in names] if isinstance(names, list) else None


class LakeChanged(FileNotFoundError):
    """Lake files listed for a rollup were merged or removed before they were read: the
    details of every other file are kept; list the lake again."""


def _read_details(db: duckdb.DuckDBPyConnection, missing: list[tuple[Path, Path]]) -> list[Path]:
    """Roll these lake files up into their details (lake file, detail path), a batch of files
    per query; the lake files that were gone when read (merged away meanwhile)."""
    vanished: list[Path] = []
    batches: list[list[tuple[Path, Path, int]]] = []
    size = 0
    for lake, detail in missing:
        try:
            file_bytes = lake.stat().st_size
            rows = pq.read_metadata(lake).num_rows
        except FileNotFoundError:
            vanished.append(lake)
            continue
        if not batches or size + file_bytes > DETAIL_READ_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((lake, detail, rows))
        size += file_bytes
    for batch in batches:
        try:
            _read_batch(db, batch)
        except (duckdb.IOException, FileNotFoundError):
            # A file of the batch was swapped away: the others one at a time.
            for one in batch:
                try:
                    _read_batch(db, [one])
                except (duckdb.IOException, FileNotFoundError):
                    if one[0].exists():
                        raise
                    vanished.append(one[0])
    return vanished


def _read_batch(db: duckdb.DuckDBPyConnection, batch: list[tuple[Path, Path, int]]) -> None:
    files = [lake for lake, _, _ in batch]
    db.execute("DROP TABLE IF EXISTS file_detail")
    db.execute(
        "CREATE TEMP TABLE file_detail AS "
        + _FILE_DETAIL.format(files=literal_list(files), feature=FEATURE_SQL)
    )
    for lake, detail, rows in batch:
        table = db.sql(
            "SELECT * EXCLUDE (file) FROM file_detail WHERE file = $1", params=[str(lake)]
        ).to_arrow_table()
        _write_detail(table.cast(DETAIL_SCHEMA), detail, _lake_rows(rows))


def _day_sum(db: duckdb.DuckDBPyConnection, directory: Path, wanted: set[str]) -> Path:
    """The day's ``DAY_SUM``: the sum of the details ``wanted`` (the day's lake files now),
    brought up to date from the one it replaces by adding the new details and subtracting
    the ones whose lake files are gone (integer sums: exact), or summed afresh."""
    path = directory / DAY_SUM
    try:
        raw = (pq.read_schema(path).metadata or {}).get(_COVERS)
        covered: set[str] | None = set(json.loads(raw)) if raw is not None else None
    except FileNotFoundError:
        covered = None
    if covered == wanted:
        return path
    every = [(directory / n, 1) for n in sorted(wanted)]
    if covered is not None and all((directory / name).exists() for name in covered - wanted):
        terms = [(path, 1)]
        terms += [(directory / n, 1) for n in sorted(wanted - covered)]
        terms += [(directory / n, -1) for n in sorted(covered - wanted)]
        table = _sum_details(db, terms)
        if table.num_rows and pc.min(table["events"]).as_py() < 0:
            table = _sum_details(db, every)  # a detail changed under its name: sum afresh
    else:
        table = _sum_details(db, every)
    _write_detail(table, path, {_COVERS: json.dumps(sorted(wanted)).encode()})
    return path


def _sum_details(db: duckdb.DuckDBPyConnection, terms: list[tuple[Path, int]]) -> pa.Table:
    """Σ sign × events over these detail files, per key; keys summing to 0 left out."""
    signs = pa.table(
        {
            "file": pa.array([str(p) for p, _ in terms], pa.string()),
            "sign": pa.array([sign for _, sign in terms], pa.int64()),
        }
    )
    db.register("signs", signs)
    try:
        files = literal_list([p for p, _ in terms])
        query = (
            "SELECT d.account_id, d.user_key, d.identified, d.feature, "  # noqa: S608 - our paths
            "sum(d.events * s.sign)::BIGINT AS events "
            f"FROM read_parquet({files}, filename = true) AS d JOIN signs AS s ON s.file = d.filename "
            "GROUP BY ALL HAVING sum(d.events * s.sign) <> 0"
        )
        return db.sql(query).to_arrow_table().cast(DETAIL_SCHEMA)
    finally:
        db.unregister("signs")


# Listings of a chunk's days one rollup makes before it gives up to its caller.
RELISTS = 20


def _listing(lake_dir: Path, project_id: str, day: date) -> list[Path]:
    return sorted(partition_dir(lake_dir, "events", project_id, day).glob("*.parquet"))


def _prepare_details(
    db: duckdb.DuckDBPyConnection, lake_dir: Path, project_id: str, files: dict[date, list[Path]]
) -> tuple[dict[date, set[str]], list[Path]]:
    """Make the missing details of these days' files: the detail names each day needs, and
    the listed files that were gone when read."""
    missing: list[tuple[Path, Path]] = []
    vanished: list[Path] = []
    wanted: dict[date, set[str]] = {}
    for day, listed_files in files.items():
        directory = _detail_dir(lake_dir, project_id, day)
        directory.mkdir(parents=True, exist_ok=True)
        present = {p.name for p in directory.glob("*.parquet")} - {DAY_SUM}
        names = {}
        for lake_file in listed_files:
            try:
                names[lake_file] = _detail_name(lake_file)
            except FileNotFoundError:
                vanished.append(lake_file)
        wanted[day] = set(names.values())
        new = [f for f, name in names.items() if name not in present]
        if new:
            known: dict[str, list[Path]] = {}
            for name in present:
                known.setdefault(_lake_stem(directory / name), []).append(directory / name)
            listed = {f.name for f in listed_files}
            new = _derive_merged(directory, known, listed, new)
        missing += [(f, directory / names[f]) for f in new]
    vanished += _read_details(db, missing)
    return wanted, vanished


def _build(
    lake_dir: Path,
    project_id: str,
    partitions: list[LakePartition],
    members: pa.Table,
    forgotten: frozenset[date] = frozenset(),
) -> dict[date, int]:
    """Bring each partition's file details up to date (reading only the lake files that have
    none), combine them into the days' rollups in fresh directories, then swap each day into
    place. A day in ``forgotten`` (its rollup state was dropped: an erasure, retention) starts
    from no detail at all."""
    staging = lake_dir / "rollups" / f".staging-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        with connect(lake_dir) as db:
            for partition in partitions:
                if partition.day in forgotten:
                    shutil.rmtree(_detail_dir(lake_dir, project_id, partition.day), True)
            files = {p.day: list(p.files) for p in partitions}
            for _ in range(RELISTS):
                wanted, vanished = _prepare_details(db, lake_dir, project_id, files)
                if not vanished:
                    break
                # Merged away since they were listed: the days' files again. The details made
                # are kept, so a pass reads only what is new (tidy merges tiny files every
                # few seconds while ingest runs: the first listing rarely survives a long read).
                files = {day: _listing(lake_dir, project_id, day) for day in files}
                if not all(files.values()):  # a day left the lake (retention): list it all
                    break
            if vanished:
                raise LakeChanged(
                    f"{len(vanished)} lake file(s) merged away while rolling up, e.g. {vanished[0]}"
                )
            details = [
                _day_sum(db, _detail_dir(lake_dir, project_id, p.day), wanted[p.day])
                for p in partitions
            ]
            db.register("members", members)
            db.execute(_DETAIL.format(files=literal_list(details)))
            counts = dict(
                db.execute("SELECT date, sum(events) FROM detail GROUP BY ALL").fetchall()
            )
            for store, query in _STORES.items():
                target = str(staging / store).replace("'", "''")
                db.execute(
                    f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION zstd, "
                    "PARTITION_BY (date), FILENAME_PATTERN 'part-{i}')"
                )
        for store in _STORES:
            for partition in partitions:
                final = partition_dir(lake_dir / "rollups", store, project_id, partition.day)
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():
                    shutil.rmtree(final)
                built = staging / store / final.name
                if built.exists():
                    built.rename(final)
        # Details of lake files that are gone (merged, rewritten): no longer part of any day.
        for partition in partitions:
            directory = _detail_dir(lake_dir, project_id, partition.day)
            for path in directory.iterdir():
                if path.name not in wanted[partition.day] and path.name != DAY_SUM:
                    path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {day: int(n) for day, n in counts.items()}


async def rollup_project(
    conn: Connection, lake_dir: Path, project_id: str, partitions: list[LakePartition]
) -> RollupReport:
    """Recompute the changed partitions of one project."""
    report = RollupReport()
    stored = {
        row["day"]: row["files"]
        for row in await conn.fetch(
            "SELECT day, files FROM rollup_partitions WHERE project_id = $1", project_id
        )
    }
    # Taken once, at the listing: files merged away during the rollup must not fail it.
    signatures = {p.day: p.signature for p in partitions}
    changed = [
        p for p in partitions if not signatures[p.day] or stored.get(p.day) != signatures[p.day]
    ]
    report.unchanged = len(partitions) - len(changed)
    await asyncio.to_thread(prune_details, lake_dir, project_id)
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
            _build, lake_dir, project_id, part, member_table, forgotten
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


def prune_details(lake_dir: Path, project_id: str) -> int:
    """Remove the file details of days whose events have left the lake (retention that keeps
    the rollups): nothing is left for them to sum. How many days."""
    removed = 0
    root = project_dir(lake_dir / "rollups", DETAIL_STORE, project_id)
    for directory in sorted(root.glob("date=*")):
        day = date.fromisoformat(directory.name.split("=", 1)[1])
        events = partition_dir(lake_dir, "events", project_id, day)
        if not any(events.glob("*.parquet")):
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    return removed
