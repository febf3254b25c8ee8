"""The three lake formats `bench_table_format.py` compares, behind one small interface.

- ``Hive``: cxloop's own lake — Hive-partitioned Parquet written with the compactor's options.
  On local disk through the code paths the pipeline uses (``PacedFile`` temp, rename, directory
  fsync; ``merge_files``' directory swap; ``rewrite_file``). On object storage as the lead's
  design says: one PUT of the final key; a merge PUTs the merged file (its footer names the
  sources) then deletes the sources; an erasure PUTs over the same key; readers skip a source
  that a merged file present in the same listing names.
- ``Iceberg``: pyiceberg with its SQL catalog in PostgreSQL, identity partitions on project_id
  and date.
- ``Delta``: deltalake (delta-rs), partitioned by project_id and date.

Every table holds ``FULL_SCHEMA``: the lake's event schema plus the partition columns (Hive
keeps those in the path only, as the real lake does). Not a bench itself.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.lake import (
    LakeLocation,
    merge_files,
    merged_name,
    partition_dir,
    read_consistently,
    rewrite_file,
)
from cxloop.lake.paced import PacedFile
from cxloop.wal import EVENT_LAKE_SCHEMA
from cxloop.wal.segment import fsync_dir

FULL_SCHEMA = pa.schema(
    [
        pa.field("project_id", pa.string(), nullable=False),
        *EVENT_LAKE_SCHEMA,
        pa.field("date", pa.date32(), nullable=False),
    ]
)
PARTITION_COLUMNS = ["project_id", "date"]
# The compactor's write options (lake/compactor.py), for every format where it has the knob.
STATISTICS = [
    "message_id", "type", "event", "name", "user_id", "anonymous_id", "group_id",
    "timestamp", "original_timestamp", "sent_at", "received_at",
]  # fmt: skip
DICTIONARY = ["type", "event", "name", "user_id", "anonymous_id", "group_id"]
ROW_GROUP_ROWS = 128 * 1024
MERGED_FROM = b"cxloop.merged_from"


def location(spec: dict[str, Any]) -> LakeLocation:
    """A ``LakeLocation`` from ``{"url", "endpoint_url"}`` (what worker processes are handed)."""
    if spec["url"].startswith("s3://"):
        return LakeLocation.object_store(spec["url"], spec.get("endpoint_url"))
    return LakeLocation.directory(Path(spec["url"]))


def location_spec(loc: LakeLocation) -> dict[str, Any]:
    return {"url": loc.url, "endpoint_url": loc.endpoint_url}


@dataclass(frozen=True)
class Listed:
    path: str  # a path for ``fs``
    size: int
    mtime_ns: int


def listing(loc: LakeLocation, *parts: str) -> list[Listed]:
    """Every file under ``parts`` of the location (recursive)."""
    selector = pafs.FileSelector(loc.path(*parts), recursive=True, allow_not_found=True)
    infos = loc.fs.get_file_info(selector)
    return [
        Listed(i.path, i.size or 0, i.mtime_ns or 0) for i in infos if i.type == pafs.FileType.File
    ]


def parquet_files(loc: LakeLocation, *parts: str) -> list[str]:
    """What a plain glob reader (``**/*.parquet``) finds: every Parquet file, the table
    format's bookkeeping directories and hidden temps aside."""
    out = []
    for item in listing(loc, *parts):
        rel = item.path[len(loc.path(*parts)) :]
        if not rel.endswith(".parquet") or "/_delta_log/" in rel or "/metadata/" in rel:
            continue
        if any(step.startswith((".", "_")) for step in rel.strip("/").split("/")):
            continue
        out.append(item.path)
    return sorted(out)


def glob_count(loc: LakeLocation, files: list[str], user: str | None = None) -> int:
    """Rows (or ``user``'s rows) a plain Parquet reader counts in ``files``. File by file:
    delta-rs writes some files with ``string_view`` columns, which one dataset over files of
    both kinds refuses to compare with a string."""
    total = 0
    for path in files:
        if user is None:
            total += pq.read_metadata(path, filesystem=loc.fs).num_rows
            continue
        ids = pq.read_table(path, columns=["user_id"], filesystem=loc.fs).column("user_id")
        total += int(pc.sum(pc.equal(ids.cast(pa.string()), user)).as_py() or 0)
    return total


def parquet_options() -> dict[str, Any]:
    return {
        "row_group_size": ROW_GROUP_ROWS,
        "compression": "zstd",
        "use_dictionary": DICTIONARY,
        "write_statistics": STATISTICS,
        "write_page_checksum": True,
    }


def partitions(table: pa.Table) -> Iterator[tuple[str, date, pa.Table]]:
    """(project, day, rows sorted by time) for each partition of ``table``."""
    keys = pa.table({"p": table.column("project_id"), "d": table.column("date")})
    groups = keys.group_by(["p", "d"]).aggregate([]).to_pylist()
    for group in sorted(groups, key=lambda g: (g["p"], g["d"])):
        mask = pc.and_(
            pc.equal(table.column("project_id"), group["p"]),
            pc.equal(table.column("date"), pa.scalar(group["d"], pa.date32())),
        )
        part = table.filter(mask).sort_by("timestamp")
        yield group["p"], group["d"], part


# -- cxloop's Hive lake ---------------------------------------------------------------------


class Hive:
    name = "hive"

    def __init__(self, loc: LakeLocation, node: str = "n0") -> None:
        self.loc = loc
        self.node = node
        self.sorting = [pq.SortingColumn(EVENT_LAKE_SCHEMA.get_field_index("timestamp"))]

    def create(self) -> None:
        pass

    def data_root(self) -> tuple[str, ...]:
        return ("events",)

    def _dir(self, project: str, day: date) -> str:
        local = partition_dir(Path("/"), "events", project, day)
        return self.loc.path(*local.parts[1:])

    def append(self, table: pa.Table, segment: str) -> None:
        metadata = {b"cxloop.segment": f"{self.node}.{segment}".encode()}
        schema = EVENT_LAKE_SCHEMA.with_metadata(metadata)
        for project, day, part in partitions(table):
            rows = part.select(EVENT_LAKE_SCHEMA.names).cast(schema)
            key = f"{self._dir(project, day)}/part-{self.node}.{segment}.parquet"
            self._write(rows, key)

    def _write(self, rows: pa.Table, key: str) -> int:
        options = parquet_options() | {"sorting_columns": self.sorting}
        if self.loc.local is None:
            # One PUT of the final key: invisible until the (multipart) upload completes.
            with self.loc.fs.open_output_stream(key) as sink:
                pq.write_table(rows, sink, **options)
            return int(self.loc.fs.get_file_info(key).size or 0)
        final = Path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.tmp")
        with PacedFile(temp) as sink:
            pq.write_table(rows, sink, **options)
        os.replace(temp, final)
        fsync_dir(final.parent)
        return final.stat().st_size

    def partition_files(self, project: str, day: date) -> list[str]:
        prefix = self._dir(project, day)
        selector = pafs.FileSelector(prefix, allow_not_found=True)
        return sorted(
            i.path
            for i in self.loc.fs.get_file_info(selector)
            if i.path.endswith(".parquet") and not i.base_name.startswith(".")
        )

    def visible(self, files: list[str]) -> list[str]:
        """cxloop's reader on object storage: a source named by a merged file in the same
        listing is skipped (the merge's DELETE has not happened yet)."""
        if self.loc.local is not None:
            return files
        named: set[str] = set()
        for path in files:
            if Path(path).name.startswith("part-m"):
                meta = pq.read_schema(path, filesystem=self.loc.fs).metadata or {}
                named.update(json.loads(meta.get(MERGED_FROM, b"[]")))
        return [p for p in files if Path(p).name not in named]

    def _read(self, read: Any) -> int:
        """On local disk cxloop reads under its seqlock on partition swaps."""
        if self.loc.local is None:
            return int(read())
        return int(read_consistently(self.loc.local, read))

    def count(self, project: str, day: date) -> int:
        return self._read(
            lambda: glob_count(self.loc, self.visible(self.partition_files(project, day)))
        )

    def count_all(self, user: str | None = None) -> int:
        return self._read(
            lambda: glob_count(self.loc, self.visible(parquet_files(self.loc, "events")), user)
        )

    def compact(self, project: str, day: date) -> dict[str, Any]:
        sources = self.partition_files(project, day)
        target = f"{self._dir(project, day)}/{merged_name(Path(s).name for s in sources)}"
        if self.loc.local is not None:
            result = merge_files([Path(s) for s in sources], Path(target))
            return {"bytes_written": result.bytes_written, "files_removed": len(sources)}
        tables = [pq.read_table(s, filesystem=self.loc.fs) for s in sources]
        merged = pa.concat_tables(tables).sort_by("timestamp")
        names = json.dumps(sorted(Path(s).name for s in sources)).encode()
        meta = dict(tables[0].schema.metadata or {})
        meta.pop(b"cxloop.segment", None)
        meta[MERGED_FROM] = names
        written = self._write(merged.replace_schema_metadata(meta), target)
        # The sources go only once the merged file is in place.
        for source in sources:
            self.loc.fs.delete_file(source)
        return {"bytes_written": written, "files_removed": len(sources)}

    def delete_user(self, user: str) -> dict[str, Any]:
        """cxloop's erasure: find the files holding ``user`` (id column only), then replace
        each by a copy without them (local: ``rewrite_file``; object store: PUT over it)."""
        holding = [
            path
            for path in parquet_files(self.loc, "events")
            if pq.read_table(
                path, columns=["user_id"], filesystem=self.loc.fs, filters=[("user_id", "=", user)]
            ).num_rows
        ]
        written = 0
        for path in holding:
            if self.loc.local is not None:
                result = rewrite_file(Path(path), lambda t: pc.not_equal(t["user_id"], user))
                written += result.bytes_written
            else:
                table = pq.read_table(path, filesystem=self.loc.fs)
                kept = table.filter(pc.fill_null(pc.not_equal(table["user_id"], user), True))
                written += self._write(kept, path)
        return {"files_rewritten": len(holding), "data_bytes_written": written}

    def maintain(self) -> None:
        pass  # nothing is left behind: sources and originals are gone when the call returns


# -- Apache Iceberg (pyiceberg, SQL catalog in PostgreSQL) ---------------------------------


class _RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Commit failed due to a concurrent update" in record.getMessage():
            self.retries += 1


class Iceberg:
    name = "iceberg"
    counter = _RetryCounter()
    logging.getLogger("pyiceberg.table").addHandler(counter)

    def __init__(self, loc: LakeLocation, catalog_url: str, table: str) -> None:
        from pyiceberg.catalog.sql import SqlCatalog

        self.loc = loc
        self.identifier = ("cx_local" if loc.local else "cx_s3", table)
        self.table_name = table
        props: dict[str, str] = {
            "uri": catalog_url.replace("postgresql://", "postgresql+psycopg2://", 1),
            "warehouse": loc.uri("iceberg-warehouse")
            if loc.local is None
            else "file://" + loc.path("iceberg-warehouse"),
        }
        if loc.local is None:
            props |= {
                "s3.endpoint": loc.endpoint_url or "",
                "s3.access-key-id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
                "s3.secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                "s3.region": os.environ.get("AWS_REGION", "us-east-1"),
            }
        self.catalog = SqlCatalog("cxloop", **props)
        self._table: Any = None

    def table_location(self) -> str:
        return self.loc.uri("iceberg", self.table_name)

    def data_root(self) -> tuple[str, ...]:
        return ("iceberg", self.table_name, "data")

    def create(self) -> None:
        from pyiceberg.table import TableProperties

        self.catalog.create_namespace_if_not_exists(self.identifier[0])
        table = self.catalog.create_table(
            self.identifier,
            schema=FULL_SCHEMA,
            location=self.table_location(),
            properties={
                TableProperties.PARQUET_COMPRESSION: "zstd",
                TableProperties.PARQUET_ROW_GROUP_LIMIT: str(ROW_GROUP_ROWS),
            },
        )
        with table.update_spec() as spec:
            spec.add_identity("project_id")
            spec.add_identity("date")

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = self.catalog.load_table(self.identifier)
        else:
            self._table.refresh()  # a node would: its last view is stale once others commit
        return self._table

    def append(self, table: pa.Table, segment: str) -> None:
        self.table.append(table)

    def _partition(self, project: str, day: date) -> Any:
        from pyiceberg.expressions import And, EqualTo

        return And(EqualTo("project_id", project), EqualTo("date", day.isoformat()))

    def count(self, project: str, day: date) -> int:
        scan = self.table.scan(row_filter=self._partition(project, day))
        return int(scan.count())

    def count_all(self, user: str | None = None) -> int:
        from pyiceberg.expressions import AlwaysTrue, EqualTo

        scan = self.table.scan(row_filter=EqualTo("user_id", user) if user else AlwaysTrue())
        return int(scan.count())

    def partition_files(self, project: str, day: date) -> list[str]:
        scan = self.table.scan(row_filter=self._partition(project, day))
        return [task.file.file_path for task in scan.plan_files()]

    def compact(self, project: str, day: date) -> dict[str, Any]:
        """pyiceberg has no rewrite_data_files: read the partition, then delete-by-filter and
        append in one transaction (one catalog commit, so no reader sees it half done)."""
        table = self.table
        where = self._partition(project, day)
        rows = table.scan(row_filter=where).to_arrow().sort_by("timestamp")
        before = {f.file_path for f in _data_files(table)}
        with table.transaction() as tx:
            tx.overwrite(rows, overwrite_filter=where)
        after = {f.file_path: f.file_size_in_bytes for f in _data_files(self.table)}
        new = [size for path, size in after.items() if path not in before]
        return {"bytes_written": sum(new), "files_removed": len(before - set(after))}

    def delete_user(self, user: str) -> dict[str, Any]:
        from pyiceberg.expressions import EqualTo

        table = self.table
        before = {f.file_path for f in _data_files(table)}
        table.delete(EqualTo("user_id", user))
        after = {f.file_path: f.file_size_in_bytes for f in _data_files(self.table)}
        new = [size for path, size in after.items() if path not in before]
        return {"files_rewritten": len(before - set(after)), "data_bytes_written": sum(new)}

    def maintain(self) -> None:
        """Expire every snapshot but the current one (pyiceberg 0.12 removes them from the
        metadata; it has no orphan-file removal, so the data files stay)."""
        table = self.table
        table.maintenance.expire_snapshots().older_than(datetime.now(UTC)).commit()


def _data_files(table: Any) -> list[Any]:
    return [task.file for task in table.scan().plan_files()]


# -- Delta Lake (deltalake / delta-rs) -------------------------------------------------------


class Delta:
    name = "delta"

    def __init__(self, loc: LakeLocation, table: str) -> None:
        self.loc = loc
        self.uri = loc.uri("delta", table) if loc.local is None else loc.path("delta", table)
        self.table_name = table
        self.options: dict[str, str] | None = None
        if loc.local is None:
            self.options = {
                "AWS_ENDPOINT_URL": loc.endpoint_url or "",
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ""),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            }

    def data_root(self) -> tuple[str, ...]:
        return ("delta", self.table_name)

    def _writer(self) -> Any:
        from deltalake import WriterProperties

        return WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_ROWS)

    def dt(self) -> Any:
        from deltalake import DeltaTable

        return DeltaTable(self.uri, storage_options=self.options)

    def create(self) -> None:
        from deltalake import DeltaTable

        DeltaTable.create(
            self.uri, schema=FULL_SCHEMA, partition_by=PARTITION_COLUMNS,
            storage_options=self.options,
        )  # fmt: skip

    def append(self, table: pa.Table, segment: str) -> None:
        from deltalake import write_deltalake

        write_deltalake(
            self.uri, table, mode="append", partition_by=PARTITION_COLUMNS,
            storage_options=self.options, writer_properties=self._writer(),
        )  # fmt: skip

    def _filters(self, project: str, day: date) -> list[tuple[str, str, str]]:
        return [("project_id", "=", project), ("date", "=", day.isoformat())]

    def count(self, project: str, day: date) -> int:
        dataset = self.dt().to_pyarrow_dataset()
        where = (ds.field("project_id") == project) & (ds.field("date") == day)
        return int(dataset.count_rows(filter=where))

    def count_all(self, user: str | None = None) -> int:
        dataset = self.dt().to_pyarrow_dataset()
        if user is None:
            return int(dataset.count_rows())
        return int(dataset.count_rows(filter=ds.field("user_id") == user))

    def partition_files(self, project: str, day: date) -> list[str]:
        return list(self.dt().file_uris(file_pruning_predicate=self._filters(project, day)))

    def compact(self, project: str, day: date) -> dict[str, Any]:
        metrics = self.dt().optimize.compact(
            partition_filters=self._filters(project, day), writer_properties=self._writer()
        )
        added = metrics["filesAdded"]
        added = json.loads(added) if isinstance(added, str) else added
        return {
            "bytes_written": int(added["totalSize"]),
            "files_removed": int(metrics["numFilesRemoved"]),
        }

    def delete_user(self, user: str) -> dict[str, Any]:
        dt = self.dt()
        before = set(dt.file_uris())
        metrics = dt.delete(f"user_id = '{user}'", writer_properties=self._writer())
        after = set(self.dt().file_uris())
        new = [f for f in after - before]
        sizes = sum(int(self.loc.fs.get_file_info(_fs_path(self.loc, f)).size or 0) for f in new)
        return {
            "files_rewritten": int(metrics.get("num_removed_files", len(before - after))),
            "data_bytes_written": sizes,
            "deletion_vectors": "deletionVectors" in (dt.protocol().writer_features or []),
        }

    def maintain(self) -> None:
        """VACUUM with no retention: the files no version after the current one needs go."""
        self.dt().vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)

    def history_conflicts(self) -> int:
        """Retries delta-rs made inside its commits (another writer had taken the version it
        tried), as each commit's ``operationMetrics.num_retries`` records them."""
        return sum(
            int((entry.get("operationMetrics") or {}).get("num_retries", 0))
            for entry in self.dt().history()
        )


def _fs_path(loc: LakeLocation, uri: str) -> str:
    return uri.removeprefix("s3://").removeprefix("file://")


def make(kind: str, loc: LakeLocation, catalog_url: str, table: str, node: str = "n0") -> Any:
    if kind == "hive":
        sub = LakeLocation.directory(Path(loc.path("hive", table))) if loc.local else None
        if sub is None:
            sub = LakeLocation.object_store(loc.uri("hive", table), loc.endpoint_url)
        return Hive(sub, node)
    if kind == "iceberg":
        return Iceberg(loc, catalog_url, table)
    if kind == "delta":
        return Delta(loc, table)
    raise ValueError(kind)


def timed(call: Any, *args: Any) -> tuple[Any, float, float]:
    """(result, wall s, process CPU s — every thread)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu
