"""Lake files on either kind of location: listing live files, and the object-store primitives.

On local disk a merge swaps the partition directory (:mod:`cxloop.lake.rewrite`), so a listing
never shows a merged file beside its sources. On object storage there is no rename: a merge
PUTs the merged file (its footer names its sources, ``cxloop.merged_from``) and then deletes
the sources, so for a moment both are listed. :func:`live_files` is the one way cxloop lists a
partition: it drops every file that a merged file present in the same listing names as a
source, so no row is counted twice. :func:`finish_merges` deletes those sources for good (an
interrupted merge, finished on the next look).

Writes to object storage are one PUT of the final key (:func:`put_parquet`): the file is
serialized in memory first and handed to the store in one go, so an error can never publish
part of it (pyarrow's S3 stream completes its upload when it is closed, even after a failed
write). S3 replaces an object atomically, so a PUT over an existing key (a retry, an erasure)
shows readers the old object or the new one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.lake.location import LakeLocation

__all__ = [
    "MERGED_FROM",
    "PUT_CONCURRENCY",
    "LakeFile",
    "ParallelPuts",
    "as_location",
    "delete_keys",
    "file_uri",
    "finish_merges",
    "is_merged_name",
    "list_partitions",
    "live_files",
    "merged_sources",
    "parquet_bytes",
    "partition_files",
    "put_bytes",
    "put_parquet",
    "superseded",
]

log = logging.getLogger("cxloop.lake")

MERGED_FROM = b"cxloop.merged_from"
# ``part-m<20 hex>.parquet`` (tidy.merged_name); a compactor's name always holds a '-' after it.
_MERGED_NAME = re.compile(r"part-m[0-9a-f]{20}\.parquet")
_SOURCES_CACHE_SIZE = 4096
# PUTs in flight at once while a segment's files are written (see ParallelPuts).
PUT_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One lake file: ``key`` is its path for ``location.fs`` (open it with that)."""

    key: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def as_location(lake: Path | LakeLocation) -> LakeLocation:
    """A ``Path`` is a local lake (what callers passed before object storage)."""
    return lake if isinstance(lake, LakeLocation) else LakeLocation.directory(lake)


def file_uri(location: LakeLocation, file: LakeFile) -> str:
    """What DuckDB and other engines are given: a local path or ``s3://bucket/key``."""
    return file.key if location.local is not None else "s3://" + file.key


def is_merged_name(name: str) -> bool:
    return _MERGED_NAME.fullmatch(name) is not None


def partition_files(location: LakeLocation, partition: str) -> list[LakeFile]:
    """Every ``*.parquet`` directly in ``partition`` (relative to the root), sorted by key;
    superseded merge sources included (see :func:`live_files`)."""
    fs = location.fs
    selector = pafs.FileSelector(location.path(partition), allow_not_found=True)
    out: list[LakeFile] = []
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet"):
            continue
        if info.base_name.startswith("."):  # a local temp or marker
            continue
        out.append(LakeFile(info.path, int(info.size or 0), int(info.mtime_ns or 0)))
    out.sort(key=lambda f: f.key)
    return out


def live_files(location: LakeLocation, partition: str) -> list[LakeFile]:
    """The files of ``partition`` (e.g. ``events/project_id=p/date=2026-12-01``) a reader
    should read, sorted by key: on object storage, without the sources of a merged file
    present in the same listing (a merge between its PUT and its DELETEs)."""
    files = partition_files(location, partition)
    if location.local is not None:
        return files  # a local merge swaps the directory: never both in one listing
    gone = superseded(location, files)
    return [f for f in files if f.name not in gone] if gone else files


def superseded(location: LakeLocation, files: Sequence[LakeFile]) -> set[str]:
    """Names in ``files`` that a merged file also in ``files`` names as a source."""
    if len(files) < 2:
        return set()
    names = {f.name for f in files}
    gone: set[str] = set()
    for file in files:
        if is_merged_name(file.name):
            gone.update(s for s in merged_sources(location, file) if s in names and s != file.name)
    return gone


def finish_merges(location: LakeLocation, partition: str) -> int:
    """Delete the sources that merged files present in ``partition`` name (a merge was
    interrupted between its PUT and its DELETEs); how many. Object storage only."""
    if location.local is not None:
        return 0
    files = partition_files(location, partition)
    gone = superseded(location, files)
    if not gone:
        return 0
    delete_keys(location, [f.key for f in files if f.name in gone])
    log.info("finished an interrupted merge in %s: %d source(s) deleted", partition, len(gone))
    return len(gone)


def list_partitions(location: LakeLocation, store: str) -> list[str]:
    """The partitions (``<store>/project_id=…/date=…``, relative to the root) holding at least
    one Parquet file, sorted."""
    fs = location.fs
    base = location.path(store)
    found: set[str] = set()
    if location.local is not None:
        root = Path(base)
        for directory in root.glob("project_id=*/date=*"):
            if directory.is_dir() and any(directory.glob("[!.]*.parquet")):
                found.add(f"{store}/{directory.parent.name}/{directory.name}")
        return sorted(found)
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    prefix = base + "/"
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.path.endswith(".parquet"):
            continue
        parts = info.path[len(prefix) :].split("/")
        if len(parts) == 3 and parts[0].startswith("project_id=") and parts[1].startswith("date="):
            found.add(f"{store}/{parts[0]}/{parts[1]}")
    return sorted(found)


# -- merged files' sources (footers, cached) -----------------------------------------------

_sources_lock = threading.Lock()
_sources: OrderedDict[tuple[str, int, int], tuple[str, ...]] = OrderedDict()


def merged_sources(location: LakeLocation, file: LakeFile) -> tuple[str, ...]:
    """The source names a merged file's footer lists (cached by key, size and mtime: one
    ranged GET per merged file per process, not per listing)."""
    cache_key = (file.key, file.size, file.mtime_ns)
    with _sources_lock:
        cached = _sources.get(cache_key)
        if cached is not None:
            _sources.move_to_end(cache_key)
            return cached
    try:
        with location.fs.open_input_file(file.key) as handle:
            metadata = pq.read_schema(handle).metadata or {}
    except FileNotFoundError:
        return ()  # deleted since it was listed
    try:
        names = tuple(str(n) for n in json.loads(metadata.get(MERGED_FROM, b"[]")))
    except ValueError:
        names = ()
    with _sources_lock:
        _sources[cache_key] = names
        while len(_sources) > _SOURCES_CACHE_SIZE:
            _sources.popitem(last=False)
    return names


# -- writing to object storage ---------------------------------------------------------------


def put_bytes(location: LakeLocation, key: str, data: pa.Buffer | bytes) -> int:
    """One PUT of ``data`` at ``key`` (the object appears whole, or not at all)."""
    with location.fs.open_output_stream(key) as stream:
        stream.write(data)
    return len(data)


def parquet_bytes(table: pa.Table, **options: Any) -> pa.Buffer:
    """``pq.write_table(table, …, **options)`` into memory."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def put_parquet(location: LakeLocation, key: str, table: pa.Table, **options: Any) -> int:
    """``pq.write_table(table, …, **options)`` as one PUT of ``key``; the bytes written."""
    return put_bytes(location, key, parquet_bytes(table, **options))


class ParallelPuts:
    """PUTs sent ``concurrency`` at a time while the caller makes the next files: a store's
    round trip (10-30 ms in-region) would otherwise be paid once per file in turn. Used as a
    context manager; leaving it waits for every PUT and raises the first failure."""

    def __init__(self, location: LakeLocation, concurrency: int = PUT_CONCURRENCY) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.location = location
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="cxloop-put")
        self._pending: list[Future[int]] = []

    def put(self, key: str, data: pa.Buffer) -> None:
        self._pending.append(self._pool.submit(put_bytes, self.location, key, data))

    def wait(self) -> int:
        """Every PUT so far, done; the bytes they wrote."""
        try:
            return sum(future.result() for future in self._pending)
        finally:
            self._pending.clear()

    def __enter__(self) -> ParallelPuts:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True)  # no PUT outlives the call that made it


def delete_keys(location: LakeLocation, keys: Iterable[str]) -> None:
    """Delete objects (or local files), a few at a time; missing ones are fine."""
    fs = location.fs
    keys = list(keys)

    def delete(key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(key)

    if len(keys) < 2 or location.local is not None:
        for key in keys:
            delete(key)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(PUT_CONCURRENCY, len(keys))) as pool:
        for done in [pool.submit(delete, key) for key in keys]:
            done.result()
