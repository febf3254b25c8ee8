"""Crash-safe rewrites of lake files: keep the rows a mask selects, or merge files into one.

A rewrite never changes a file in place. The new content goes to a hidden temp file in the
same directory (``.<name>.rewrite.tmp``: dataset discovery and the readers' ``*.parquet``
globs skip it), is synced as it is written (``PacedFile``) and on close, then renamed over the
original and the directory synced. A crash at any point leaves the old file or the new one,
never a torn one; a stale temp is overwritten by the next rewrite of that file and removed by
:func:`clean_stale_temps`.

The new file keeps the original's schema (with its metadata), its row order, each column's
compression, dictionary and statistics choices and its sorting columns, read from the file
itself, so a rewritten file is what the compactor would have written without those rows.

A merge (N files → one, for small-file compaction) replaces a *set* of files, which one rename
cannot do. It swaps the whole partition directory instead (:func:`replace_files`, the one way a
set of lake files is replaced): the new set is built in a staging directory under
``<lake>/.merge/`` (hard links for the files kept, the merged file written and synced), then
exchanged with the partition in one ``renameat2(RENAME_EXCHANGE)``; the old set is moved aside
and deleted a grace period later (:func:`purge_replaced`). A reader listing the partition sees
all the sources or the merged file, never both, never neither. A reader that listed the old
set and opens a source after the swap gets ``FileNotFoundError`` (never a duplicate) and lists
again — pyarrow dataset discovery did so in tests — but DuckDB's ``read_parquet`` glob stats
each listed name and silently *skips* one that vanished (a short answer, seen in tests). So
readers that glob the lake run under :func:`read_consistently`, a seqlock on the swaps
(``<lake>/.merge/generation``, odd while an exchange is under way). A journal
(``<lake>/.merge/<token>.json``) and a marker that travels with the new set say, after a
crash, whether the swap happened: :func:`recover_swaps` finishes or abandons each one. The staging root is outside every store: no reader's glob reaches it.
Where the kernel or file system cannot exchange (Linux < 3.15, some file systems), a merge
falls back to an intent file (:func:`recover_merges`) with a logged warning: there a reader may
see the target beside a source between its publication and the unlinks.

``rewrite_file`` (one file, renamed over itself) needs no swap: one rename already gives a
reader the old file or the new one, the same guarantee.

On object storage (a :class:`LakeLocation` whose ``local`` is None) there is no rename and no
directory to swap, and none is needed. A rewrite is one PUT over the same key (S3 replaces an
object atomically: a reader gets the old object or the new one). A merge
(:func:`merge_objects`) reads its sources into a scratch directory, merges them there with the
same code as on disk, PUTs the merged file (its footer names its sources) and then deletes the
sources: a reader listing in between sees both, and cxloop's readers list through
:func:`cxloop.lake.live_files`, which drops the sources a present merged file names; an
interrupted merge is finished on the next look (:func:`cxloop.lake.finish_merges`).

The pipeline is the lake's only writer and runs compaction, merges, privacy rewrites and
retention one after another, so none of this needs a lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.lake.compactor import DEFAULT_ROW_GROUP_ROWS, ensure_dir
from cxloop.lake.location import LakeLocation
from cxloop.lake.objects import PUT_CONCURRENCY, delete_keys, put_bytes
from cxloop.lake.paced import PacedFile
from cxloop.wal import fsync_dir

__all__ = [
    "REPLACED_GRACE_S",
    "STAGING_DIR",
    "KeepRows",
    "RewriteResult",
    "clean_stale_temps",
    "exchange_supported",
    "merge_files",
    "merge_objects",
    "purge_replaced",
    "read_consistently",
    "recover_merges",
    "recover_swaps",
    "remove_file",
    "replace_files",
    "rewrite_file",
    "staging_root",
    "swap_generation",
    "temp_path",
]

log = logging.getLogger("cxloop.lake")

# Given a file's whole table, which rows stay (True) — nulls count as False.
KeepRows = Callable[[pa.Table], pa.Array | pa.ChunkedArray]

_TEMP_SUFFIX = ".rewrite.tmp"
_INTENT_PREFIX = ".merge-"
_INTENT_SUFFIX = ".intent"
# Under the lake root, beside the stores (like retention's ``.trash``): no reader globs it.
STAGING_DIR = ".merge"
_MARKER_PREFIX = ".swap-"  # travels with the new file set: "this swap happened"
# A swap's old file set is deleted this long after it was replaced (see purge_replaced).
REPLACED_GRACE_S = 60.0
_REPLACED_INFIX = ".replaced-"
_GENERATION = "generation"
T = TypeVar("T")
# Rows a merge buffers from its sources together (split between them), and the inputs small
# enough (uncompressed bytes) to be read whole and sorted at once (read, concatenated and
# sorted: about three times this at the peak). A merge also holds one output row group before
# writing it: ``row_group_rows`` rows, or fewer once they take MERGE_ROW_GROUP_BYTES decoded
# (wide events, ~420 B a row with their contexts, made a 128k-row group ~53 MiB, plus the
# sorted copies it was taken from).
MERGE_BUFFER_ROWS = 16 * 1024
MERGE_IN_MEMORY_BYTES = 16 * 1024 * 1024
MERGE_ROW_GROUP_BYTES = 24 * 1024 * 1024
# What the sources read side by side may hold at once (estimated from their footers, see
# ``_reader_bytes``). An open source holds about a decoded page and the compressed chunk of
# each column — ~4.5 MiB for a 40k-row file of the event schema, so 40 of them took ~180 MiB.
# Past this, the sources are merged in groups into temps first, then the temps into the target.
MERGE_READERS_BYTES = 32 * 1024 * 1024
_PAGE_BYTES = 1024 * 1024  # pyarrow's default data page size: what a reader decodes at once


@dataclass(frozen=True, slots=True)
class RewriteResult:
    path: Path
    rows_before: int
    rows_kept: int
    bytes_before: int
    bytes_written: int  # size of the new file (0: unchanged or removed)
    removed: bool = False  # no row was left: the file was deleted

    @property
    def rows_dropped(self) -> int:
        return self.rows_before - self.rows_kept

    @property
    def changed(self) -> bool:
        return self.removed or self.bytes_written > 0


def temp_path(final: Path) -> Path:
    """The hidden temp a rewrite of ``final`` writes first."""
    return final.with_name(f".{final.name}{_TEMP_SUFFIX}")


def rewrite_file(
    path: Path | str,
    keep: KeepRows,
    *,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    location: LakeLocation | None = None,
) -> RewriteResult:
    """Replace ``path`` by a file holding only the rows ``keep`` selects, atomically.

    Nothing is written when every row stays; the file is removed when none does. With an
    object-store ``location``, ``path`` is the object's key in ``location.fs`` and the new
    content is one PUT over it (raises ``FileNotFoundError`` when it is gone).
    """
    if location is not None and location.local is None:
        return _rewrite_object(location, str(path), keep, row_group_rows)
    path = Path(path)
    size = path.stat().st_size
    parquet = pq.ParquetFile(path)
    options = _write_options(parquet.metadata)
    table = parquet.read()
    mask = pc.fill_null(keep(table), False)
    kept = int(pc.sum(mask).as_py() or 0)
    if kept == table.num_rows:
        return RewriteResult(path, table.num_rows, kept, size, 0)
    if kept == 0:
        remove_file(path)
        return RewriteResult(path, table.num_rows, 0, size, 0, removed=True)
    written = _publish(table.filter(mask), path, row_group_rows, options)
    return RewriteResult(path, table.num_rows, kept, size, written)


def _rewrite_object(
    location: LakeLocation, key: str, keep: KeepRows, row_group_rows: int
) -> RewriteResult:
    fs = location.fs
    with fs.open_input_file(key) as handle:
        data = handle.read()
    size = len(data)
    parquet = pq.ParquetFile(pa.BufferReader(data))
    options = _write_options(parquet.metadata)
    table = parquet.read()
    del parquet, data
    mask = pc.fill_null(keep(table), False)
    kept = int(pc.sum(mask).as_py() or 0)
    if kept == table.num_rows:
        return RewriteResult(Path(key), table.num_rows, kept, size, 0)
    if kept == 0:
        delete_keys(location, [key])
        return RewriteResult(Path(key), table.num_rows, 0, size, 0, removed=True)
    sink = pa.BufferOutputStream()
    _write_table(table.filter(mask), sink, row_group_rows, options)
    written = put_bytes(location, key, sink.getvalue())  # over the same key: old or new
    return RewriteResult(Path(key), table.num_rows, kept, size, written)


def merge_objects(
    location: LakeLocation,
    sources: Sequence[str],
    target: str,
    *,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
) -> RewriteResult:
    """:func:`merge_files` on object storage: ``sources`` and ``target`` are keys in one
    partition. The merged file is PUT (its footer names the sources), then the sources are
    deleted; a crash in between is finished by :func:`cxloop.lake.finish_merges`, and
    readers that list through :func:`cxloop.lake.live_files` never see both."""
    import tempfile

    if not sources:
        raise ValueError("merge_objects needs at least one source")
    directory = target.rsplit("/", 1)[0]
    if any(source.rsplit("/", 1)[0] != directory for source in sources):
        raise ValueError("merge_objects works inside one partition")
    if len(set(sources)) != len(sources) or target in sources:
        raise ValueError("merge_objects got the same source twice, or the target as a source")
    fs = location.fs
    with tempfile.TemporaryDirectory(prefix="cxloop-merge-") as scratch:
        local = [Path(scratch, key.rsplit("/", 1)[1]) for key in sources]
        # Fetched a few at a time: each is a round trip to the store.
        with ThreadPoolExecutor(min(PUT_CONCURRENCY, len(sources))) as pool:
            before = sum(pool.map(_fetch, [fs] * len(local), sources, local))
        merged = Path(scratch, ".merged")
        # A scratch file, not a lake file: nothing to make durable.
        names = [path.name for path in local]
        rows = _write_merged(local, merged, row_group_rows, names, durable=False)
        for copy in local:
            copy.unlink()
        written = _put_new(fs, target, merged)
    delete_keys(location, sources)
    return RewriteResult(Path(target), rows, rows, before, written)


_COPY_CHUNK = 8 * 1024 * 1024


def _fetch(fs: pafs.FileSystem, key: str, copy: Path) -> int:
    size = 0
    with fs.open_input_stream(key) as source, open(copy, "wb") as sink:
        while chunk := source.read(_COPY_CHUNK):
            sink.write(chunk)
            size += len(chunk)
    return size


def _put_new(fs: pafs.FileSystem, key: str, path: Path) -> int:
    """Upload a local file to a key nothing else holds, as one object. pyarrow completes an
    upload when its stream is closed, even after a failed write: a failure here deletes the
    key again (safe only because it is new — for a PUT over a live key use ``put_bytes``)."""
    written = 0
    try:
        with fs.open_output_stream(key) as stream, open(path, "rb") as source:
            while chunk := source.read(_COPY_CHUNK):
                stream.write(chunk)
                written += len(chunk)
    except BaseException:
        try:
            fs.delete_file(key)
        except OSError:
            log.warning("could not delete %s, the partial upload of a failed merge", key)
        raise
    return written


def remove_file(path: Path) -> None:
    """Unlink a lake file durably (its directory is synced)."""
    path.unlink(missing_ok=True)
    temp_path(path).unlink(missing_ok=True)
    fsync_dir(path.parent)


def merge_files(
    sources: Sequence[Path],
    target: Path,
    *,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    staging: Path | None = None,
) -> RewriteResult:
    """Replace ``sources`` by ``target`` holding every row of them, atomically for readers.

    All paths are in one partition directory and share a schema; ``target`` may be one of the
    sources. Rows come out ordered by the files' sorting column (merged from the sources,
    which the compactor wrote sorted, a batch at a time: memory does not grow with the files).
    ``staging`` defaults to :func:`staging_root` of the directory. Crash-safe with
    :func:`recover_swaps` (or :func:`recover_merges` on the fallback).
    """
    if not sources:
        raise ValueError("merge_files needs at least one source")
    directory = target.parent
    if any(source.parent != directory for source in sources):
        raise ValueError("merge_files works inside one directory")
    if len({source.name for source in sources}) != len(sources):
        raise ValueError("merge_files got the same source twice")
    before = sum(source.stat().st_size for source in sources)
    if not exchange_supported():
        _warn_no_exchange()
        return _merge_with_intent(sources, target, row_group_rows, before)
    rows = 0

    def build(stage: Path) -> int:
        nonlocal rows
        rows = _write_merged(sources, stage / target.name, row_group_rows)
        return (stage / target.name).stat().st_size

    drop = {source.name for source in sources} | {target.name}
    try:
        written = replace_files(directory, drop, build, staging=staging)
    except _ExchangeUnsupported:  # this file system refused it: nothing was changed
        _warn_no_exchange()
        return _merge_with_intent(sources, target, row_group_rows, before)
    return RewriteResult(target, rows, rows, before, written)


def replace_files(
    directory: Path,
    drop: Collection[str],
    build: Callable[[Path], int],
    *,
    staging: Path | None = None,
) -> int:
    """Swap ``directory`` for a copy without the files named in ``drop`` and with whatever
    ``build(stage)`` writes into the staging directory; returns what ``build`` returns.

    The one way a set of lake files is replaced (see the module docstring); ``build`` must
    leave its files durable (``PacedFile`` does). Needs :func:`exchange_supported`.
    """
    root = staging if staging is not None else staging_root(directory)
    token = _token(directory, drop)
    journal = root / f"{token}.json"
    if journal.exists():  # a crash left this very swap half-done: settle it first
        _recover_swap(journal)
    ensure_dir(root)
    # 1. The journal, durable before anything else exists: recovery starts from it.
    journal.write_text(json.dumps({"partition": os.path.relpath(directory, root)}))
    _sync_file(journal)
    fsync_dir(root)
    # 2. The new set, in a directory no reader looks at: links to what stays, then the new.
    stage = root / token
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    for entry in directory.iterdir():
        if entry.name not in drop and not entry.name.startswith(_MARKER_PREFIX):
            os.link(entry, stage / entry.name, follow_symlinks=False)
    result = build(stage)
    (stage / f"{_MARKER_PREFIX}{token}").touch()
    fsync_dir(stage)
    fsync_dir(root)
    # 3. One atomic exchange, inside an odd swap generation (see read_consistently); made
    # durable before the old set is touched.
    _bump_generation(root)
    try:
        _exchange(stage, directory)
    except _ExchangeUnsupported:
        _recover_swap(journal)
        _bump_generation(root)
        raise
    _bump_generation(root)
    fsync_dir(directory.parent)
    fsync_dir(root)
    # 4. The old set (now at the staging path) is set aside; then the marker; the journal.
    _finish_swap(journal, stage, directory, token)
    return result


def staging_root(directory: Path) -> Path:
    """``<lake>/.merge`` for a partition ``<lake>/<store>/project_id=…/date=…``."""
    return directory.parents[2] / STAGING_DIR


def recover_swaps(root: Path) -> int:
    """Finish or abandon the partition swaps a crash interrupted (``root`` is the lake's
    ``.merge``); how many were found. Call before the lake is written again."""
    if not root.is_dir():
        return 0
    if swap_generation(root) % 2:  # died inside an exchange: no longer in one
        _bump_generation(root)
    found = 0
    for journal in sorted(root.glob("*.json")):
        _recover_swap(journal)
        found += 1
    for stray in root.iterdir():  # a stage whose journal is gone holds nothing of value
        if stray.is_dir() and _REPLACED_INFIX not in stray.name:
            shutil.rmtree(stray)
            found += 1
    return found


def purge_replaced(root: Path, grace_s: float = REPLACED_GRACE_S) -> int:
    """Delete the file sets swaps replaced more than ``grace_s`` ago; how many.

    Not at once: a reader that opened the partition just before its swap may still be reading
    the old directory's entries, and unlinking them under it would make its listing silently
    short (the kept files would be missing from it, yet readable by path)."""
    if not root.is_dir():
        return 0
    now = time.time_ns()
    due = []
    for old in root.glob(f"*{_REPLACED_INFIX}*"):
        try:
            replaced_ns = int(old.name.rsplit(_REPLACED_INFIX, 1)[1])
        except ValueError:
            replaced_ns = 0
        if now - replaced_ns >= grace_s * 1e9:
            due.append(old)
    if due:
        # Inside an odd generation: a reader still listing an old set (grace 0, an erasure
        # that must not leave copies behind) reads again (read_consistently).
        _bump_generation(root)
        for old in due:
            shutil.rmtree(old, ignore_errors=True)
        _bump_generation(root)
    return len(due)


def swap_generation(root: Path) -> int:
    """How many times partitions of this lake were swapped, ×2; odd while one is exchanging."""
    try:
        return int((root / _GENERATION).read_text() or 0)
    except FileNotFoundError:
        return 0
    except ValueError:  # torn by a crash (it is not synced): recovery writes it again
        return 1


def read_consistently(
    lake_dir: Path,
    read: Callable[[], T],
    *,
    retry_on: tuple[type[BaseException], ...] = (FileNotFoundError,),
    attempts: int = 20,
) -> T:
    """``read()``, again until no partition swap happened while it listed and read the lake.

    A seqlock on the swaps: a reader that globs the lake (DuckDB's ``read_parquet`` glob,
    pyarrow dataset discovery) lists a partition, then looks at each file by path; if the
    partition was swapped in between, the merged sources are gone, and those readers *skip*
    a file that vanished after the listing — a silently short answer. Readers that list with
    Python and open each file get ``FileNotFoundError`` instead (``retry_on``). After
    ``attempts`` the last answer stands only if no swap overlapped it."""
    root = lake_dir / STAGING_DIR
    for attempt in range(attempts):
        before = swap_generation(root)
        if before % 2 and attempt < attempts - 1:
            time.sleep(0.02)  # an exchange is microseconds; its fsyncs a few ms
            continue
        try:
            result = read()
        except retry_on:
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.5, 0.005 * 2**attempt))  # let a run of merges pass
            continue
        if swap_generation(root) == before:
            return result
        time.sleep(min(0.5, 0.005 * 2**attempt))
    raise RuntimeError(f"the lake kept changing under {attempts} reads; try again")


def exchange_supported() -> bool:
    """Whether this kernel and libc can exchange two paths atomically (``RENAME_EXCHANGE``)."""
    global _EXCHANGE
    if _EXCHANGE is _UNKNOWN:
        _EXCHANGE = _renameat2()
    return _EXCHANGE is not None


def recover_merges(directory: Path) -> int:
    """Finish or abandon intent-file merges (the fallback of :func:`merge_files` where the
    kernel cannot exchange) a crash interrupted in ``directory``; how many were found."""
    found = 0
    for intent in directory.glob(f"{_INTENT_PREFIX}*{_INTENT_SUFFIX}"):
        found += 1
        target = directory / intent.name[len(_INTENT_PREFIX) : -len(_INTENT_SUFFIX)]
        if temp_path(target).exists():  # not published: the sources are still the truth
            temp_path(target).unlink()
            intent.unlink()
            fsync_dir(directory)
        else:
            _finish_merge(intent, directory)
    return found


def clean_stale_temps(directory: Path) -> int:
    """Remove temps left by rewrites a crash interrupted; how many. Only one rewriter works
    on a lake at a time (the pipeline, or the CLI holding ``serve.lock``). Run
    :func:`recover_merges` first: a merge's temp beside its intent is its evidence."""
    removed = 0
    for temp in directory.glob(f".*{_TEMP_SUFFIX}"):
        temp.unlink(missing_ok=True)
        removed += 1
    if removed:
        fsync_dir(directory)
    return removed


# -- internals ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    compression: dict[str, str]
    dictionary: list[str]
    statistics: list[str]
    sorting: list[pq.SortingColumn] | None
    page_checksum: bool


def _write_options(metadata: pq.FileMetaData) -> _Options:
    """How the original was written, column by column (its first row group says)."""
    names = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    if metadata.num_row_groups == 0:
        return _Options({n: "zstd" for n in names}, [], [], None, True)
    group = metadata.row_group(0)
    compression: dict[str, str] = {}
    dictionary: list[str] = []
    statistics: list[str] = []
    for i, name in enumerate(names):
        column = group.column(i)
        compression[name] = str(column.compression).lower()
        if column.has_dictionary_page:
            dictionary.append(name)
        if column.is_stats_set:
            statistics.append(name)
    sorting = list(group.sorting_columns) or None
    return _Options(compression, dictionary, statistics, sorting, True)


def _publish(table: pa.Table, final: Path, row_group_rows: int, options: _Options) -> int:
    written = _write_temp(table, final, row_group_rows, options)
    _rename(final)
    return written


def _write_temp(table: pa.Table, final: Path, row_group_rows: int, options: _Options) -> int:
    temp = temp_path(final)
    with PacedFile(temp) as sink:
        _write_table(table, sink, row_group_rows, options)
    return temp.stat().st_size


def _write_table(table: pa.Table, sink: Any, row_group_rows: int, options: _Options) -> None:
    pq.write_table(
        table,
        sink,
        row_group_size=row_group_rows,
        compression=options.compression,
        use_dictionary=options.dictionary,
        write_statistics=options.statistics,
        sorting_columns=options.sorting,
        write_page_checksum=options.page_checksum,
    )


def _rename(final: Path) -> None:
    os.replace(temp_path(final), final)
    fsync_dir(final.parent)


def _finish_merge(intent: Path, directory: Path) -> None:
    try:
        names: list[str] = json.loads(intent.read_text())
    except (OSError, ValueError):
        names = []
    for name in names:
        (directory / name).unlink(missing_ok=True)
    intent.unlink(missing_ok=True)
    fsync_dir(directory)


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- merging --------------------------------------------------------------------------------


def _write_merged(
    sources: Sequence[Path],
    final: Path,
    row_group_rows: int,
    merged_from: Sequence[str] | None = None,
    *,
    durable: bool = True,
) -> int:
    """Write every row of ``sources`` to ``final`` (durably), ordered by their sorting
    column; returns the rows. When the sources' readers would hold more than
    ``MERGE_READERS_BYTES`` together, they are merged in groups under that bound into hidden
    temps beside ``final`` first (removed before this returns), then those into ``final``:
    memory stays bounded however many files a merge takes, at the cost of writing the rows
    twice (or more for thousands of files)."""
    names = list(merged_from) if merged_from is not None else [s.name for s in sources]
    groups = _groups(sources)
    if len(groups) == 1:
        return _merge_into(sources, final, row_group_rows, names, durable=durable)
    temps: list[Path] = []
    try:
        inputs: list[Path] = []
        for i, group in enumerate(groups):
            if len(group) == 1:
                inputs.append(group[0])
                continue
            temp = final.with_name(f".{final.stem}-{len(sources)}-{i}.parquet{_TEMP_SUFFIX}")
            temps.append(temp)
            _merge_into(group, temp, row_group_rows, names, durable=durable)
            inputs.append(temp)
        return _write_merged(inputs, final, row_group_rows, names, durable=durable)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def _reader_bytes(source: Path) -> int:
    """About what reading ``source`` a batch at a time holds: per column, a decoded page (or
    the whole column chunk, if smaller) and the compressed chunk, of its largest row group."""
    metadata = pq.read_metadata(source)
    most = 0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        held = 0
        for c in range(group.num_columns):
            column = group.column(c)
            held += min(column.total_uncompressed_size, _PAGE_BYTES)
            held += column.total_compressed_size
        most = max(most, held)
    return most


def _groups(sources: Sequence[Path]) -> list[list[Path]]:
    """``sources`` in consecutive groups whose readers fit ``MERGE_READERS_BYTES`` together
    (at least two to a group, so each round of grouping makes fewer files)."""
    groups: list[list[Path]] = [[]]
    held = 0
    for source in sources:
        size = _reader_bytes(source)
        if len(groups[-1]) >= 2 and held + size > MERGE_READERS_BYTES:
            groups.append([])
            held = 0
        groups[-1].append(source)
        held += size
    if len(groups) > 1 and len(groups[-1]) == 1:  # a lone last source joins the group before
        groups[-2].extend(groups.pop())
    return groups


def _merge_into(
    sources: Sequence[Path],
    final: Path,
    row_group_rows: int,
    merged_from: Sequence[str],
    *,
    durable: bool = True,
) -> int:
    """One pass of the merge: each source is read a batch at a time and the batches merged
    up to the smallest "last key" among the sources still being read, so every row leaves
    in order while memory stays at about one batch and one page per column per source."""
    first = pq.ParquetFile(sources[0])
    options = _write_options(first.metadata)
    metadata = dict(first.schema_arrow.metadata or {})
    metadata.pop(b"cxloop.segment", None)  # no longer one segment's file
    metadata[b"cxloop.merged_from"] = json.dumps(sorted(merged_from)).encode()
    schema = first.schema_arrow.with_metadata(metadata)
    key = _sort_key_name(schema, options)
    if _decoded_bytes(sources) <= MERGE_IN_MEMORY_BYTES:
        # Small inputs (the usual case: many tiny files) are read whole and sorted once; the
        # batch-wise merge below costs a few kernel calls per source per round.
        readers = [iter([_read_all(sources, schema)])]
    else:
        # About MERGE_BUFFER_ROWS rows buffered in all, however many sources.
        batch_rows = max(256, MERGE_BUFFER_ROWS // len(sources))
        readers = [_batches(source, schema, batch_rows) for source in sources]
    buffers: list[pa.Table | None] = [None] * len(readers)
    done = [False] * len(readers)
    pending: list[pa.Table] = []
    pending_rows = pending_bytes = rows = 0
    with (
        PacedFile(final) if durable else open(final, "wb") as sink,
        pq.ParquetWriter(
            sink,
            schema,
            compression=options.compression,
            use_dictionary=options.dictionary,
            write_statistics=options.statistics,
            sorting_columns=options.sorting,
            write_page_checksum=options.page_checksum,
        ) as writer,
    ):
        while True:
            for i, reader in enumerate(readers):
                buffer = buffers[i]
                if not done[i] and (buffer is None or buffer.num_rows == 0):
                    buffers[i] = next(reader, None)
                    done[i] = buffers[i] is None
            live = [b for b in buffers if b is not None and b.num_rows]
            if not live:
                break
            out = _take_ordered(buffers, done, key)
            pending.append(out)
            pending_rows += out.num_rows
            pending_bytes += out.nbytes
            rows += out.num_rows
            if pending_bytes >= MERGE_ROW_GROUP_BYTES:  # a shorter row group, bytes-bound
                _flush(writer, pending, row_group_rows, final=True)
                pending_rows = pending_bytes = 0
            elif pending_rows >= row_group_rows:
                pending_rows = _flush(writer, pending, row_group_rows, final=False)
                pending_bytes = sum(table.nbytes for table in pending)
        _flush(writer, pending, row_group_rows, final=True)
    return rows


def _decoded_bytes(sources: Sequence[Path]) -> int:
    """The sources' uncompressed size (their footers say), about what they take in memory:
    JSON-heavy events compress 20x, so file sizes would say little."""
    total = 0
    for source in sources:
        metadata = pq.read_metadata(source)
        total += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    return total


def _read_all(sources: Sequence[Path], schema: pa.Schema) -> pa.Table:
    tables = []
    for source in sources:
        table = pq.ParquetFile(source).read(use_threads=False)  # tiny files: no pool dispatch
        if table.schema.remove_metadata() != schema.remove_metadata():
            raise ValueError(f"{source.name} does not have the schema of the files merged with it")
        tables.append(table.replace_schema_metadata(schema.metadata))
    return pa.concat_tables(tables).combine_chunks()


def _batches(source: Path, schema: pa.Schema, batch_rows: int) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(source)
    if parquet.schema_arrow.remove_metadata() != schema.remove_metadata():
        raise ValueError(f"{source.name} does not have the schema of the files merged with it")
    for batch in parquet.iter_batches(batch_size=batch_rows, use_threads=False):
        yield pa.Table.from_batches([batch]).replace_schema_metadata(schema.metadata)


def _sort_key_name(schema: pa.Schema, options: _Options) -> str | None:
    if not options.sorting:
        return None
    return str(schema.field(options.sorting[0].column_index).name)


def _key(table: pa.Table, key: str) -> pa.ChunkedArray:
    # The compactor orders (and dates) an event without a usable time by its receive time.
    column = table.column(key)
    if key != "received_at" and "received_at" in table.schema.names:
        column = pc.coalesce(column, table.column("received_at"))
    return column


def _take_ordered(buffers: list[pa.Table | None], done: list[bool], key: str | None) -> pa.Table:
    """Take from the buffers every row that can leave now, in order; the rest stay."""
    if key is None:  # nothing to keep in order: the sources one after another
        for i, table in enumerate(buffers):
            if table is not None and table.num_rows:
                buffers[i] = None
                return table
        raise AssertionError("no rows to take")
    # Rows up to the smallest buffered maximum of the sources still being read cannot be
    # overtaken; that source leaves whole, so every round makes progress.
    bound = None
    for table, finished in zip(buffers, done, strict=True):
        if table is not None and table.num_rows and not finished:
            last = pc.max(_key(table, key)).as_py()
            if last is not None and (bound is None or last < bound):
                bound = last
    taken: list[pa.Table] = []
    for i, table in enumerate(buffers):
        if table is None or not table.num_rows:
            continue
        if bound is None:
            taken.append(table)
            buffers[i] = None
            continue
        # The leading run up to the bound (the sources are sorted): zero-copy slices, where a
        # filter would copy every buffered row on every round.
        keys = _key(table, key)
        over = pc.index(pc.greater(keys, pa.scalar(bound, keys.type)), True).as_py()
        cut = table.num_rows if over < 0 else over
        taken.append(table.slice(0, cut))
        buffers[i] = table.slice(cut)
    out = pa.concat_tables(taken)
    # A stable sort: rows of equal time keep their sources' order.
    order = pc.sort_indices(
        pa.table({"k": _key(out, key)}), sort_keys=[("k", "ascending", "at_end")]
    )
    return out.take(order)


def _flush(
    writer: pq.ParquetWriter, pending: list[pa.Table], row_group_rows: int, *, final: bool
) -> int:
    """Write full row groups from ``pending`` (all of it when ``final``); rows left over."""
    if not pending:
        return 0
    table = pa.concat_tables(pending)
    pending.clear()
    full = table.num_rows if final else table.num_rows - table.num_rows % row_group_rows
    if full:
        writer.write_table(table.slice(0, full), row_group_size=row_group_rows)
    rest = table.slice(full)
    if rest.num_rows:
        pending.append(rest)
    return int(rest.num_rows)


def _merge_with_intent(
    sources: Sequence[Path], target: Path, row_group_rows: int, before: int
) -> RewriteResult:
    directory = target.parent
    # Order: temp (synced), then the intent, then the rename. An intent beside its temp means
    # "not published"; an intent without one means "published, sources still to remove".
    rows = _write_merged(sources, temp_path(target), row_group_rows)
    written = temp_path(target).stat().st_size
    intent = directory / f"{_INTENT_PREFIX}{target.name}{_INTENT_SUFFIX}"
    intent.write_text(json.dumps([s.name for s in sources if s != target]))
    _sync_file(intent)
    fsync_dir(directory)
    _rename(target)
    _finish_merge(intent, directory)
    return RewriteResult(target, rows, rows, before, written)


# -- the partition swap ---------------------------------------------------------------------


class _ExchangeUnsupported(OSError):
    pass


_UNKNOWN: Callable[[bytes, bytes], int] = lambda old, new: -1  # noqa: E731
_EXCHANGE: Callable[[bytes, bytes], int] | None = _UNKNOWN
_UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.EOPNOTSUPP)
_WARNED = False
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# renameat2 by number where libc has no wrapper (glibc < 2.28).
_SYSCALLS = {"x86_64": 316, "aarch64": 276}


def _token(directory: Path, drop: Collection[str]) -> str:
    """Stable for a retry of the same swap: the partition and the names it drops."""
    text = "\n".join([str(directory), *sorted(drop)])
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _renameat2() -> Callable[[bytes, bytes], int] | None:
    """A ``RENAME_EXCHANGE`` call, or None when libc and the kernel have none."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if hasattr(libc, "renameat2"):
        function = libc.renameat2
        function.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
        ]

        def call(old: bytes, new: bytes) -> int:
            return int(function(_AT_FDCWD, old, _AT_FDCWD, new, _RENAME_EXCHANGE))
    elif platform.machine() in _SYSCALLS:
        number = _SYSCALLS[platform.machine()]
        syscall = libc.syscall

        def call(old: bytes, new: bytes) -> int:
            return int(
                syscall(
                    ctypes.c_long(number),
                    ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(old),
                    ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(new),
                    ctypes.c_uint(_RENAME_EXCHANGE),
                )
            )  # fmt: skip
    else:
        return None
    # A probe on two fresh names proves the kernel and this file system's kind take it.
    return call if _probe(call) else None


def _probe(call: Callable[[bytes, bytes], int]) -> bool:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cxloop-exchange-") as scratch:
        a, b = Path(scratch, "a"), Path(scratch, "b")
        a.mkdir()
        b.mkdir()
        if call(os.fsencode(a), os.fsencode(b)) != 0:
            code = ctypes.get_errno()
            if code in _UNSUPPORTED:
                return False
            raise OSError(code, os.strerror(code), str(a))
    return True


def _exchange(a: Path, b: Path) -> None:
    global _EXCHANGE
    exchange_supported()
    call = _EXCHANGE
    if call is None:
        raise _ExchangeUnsupported(errno.ENOSYS, "renameat2(RENAME_EXCHANGE) is not available")
    if call(os.fsencode(a), os.fsencode(b)) != 0:
        code = ctypes.get_errno()
        if code in _UNSUPPORTED:
            _EXCHANGE = None
            raise _ExchangeUnsupported(code, f"exchanging {a} and {b}: {os.strerror(code)}")
        raise OSError(code, f"exchanging {a} and {b}: {os.strerror(code)}", str(b))


def _warn_no_exchange() -> None:
    global _WARNED
    if not _WARNED:
        _WARNED = True
        log.warning(
            "this kernel or file system cannot exchange directories atomically "
            "(renameat2 RENAME_EXCHANGE, Linux >= 3.15): lake merges use an intent file, "
            "and a reader may briefly see a merged file beside its sources"
        )


def _recover_swap(journal: Path) -> None:
    root = journal.parent
    token = journal.stem
    stage = root / token
    try:
        directory = (root / json.loads(journal.read_text())["partition"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        directory = None  # torn journal: written before anything else, so nothing happened
    if directory is not None and (directory / f"{_MARKER_PREFIX}{token}").exists():
        _finish_swap(journal, stage, directory, token)  # swapped: the old set goes
        return
    if stage.exists():  # not swapped: the partition still holds the truth
        shutil.rmtree(stage)
    journal.unlink(missing_ok=True)
    fsync_dir(root)


def _finish_swap(journal: Path, stage: Path, directory: Path, token: str) -> None:
    if stage.exists():  # the old set: aside for a grace period, not deleted under readers
        os.rename(stage, stage.with_name(f"{token}{_REPLACED_INFIX}{time.time_ns()}"))
        fsync_dir(stage.parent)
    (directory / f"{_MARKER_PREFIX}{token}").unlink(missing_ok=True)
    fsync_dir(directory)
    journal.unlink(missing_ok=True)
    fsync_dir(journal.parent)


def _bump_generation(root: Path) -> None:
    # Not synced: after a crash recovery makes it even again, and readers only compare.
    temp = root / f".{_GENERATION}.tmp"
    temp.write_text(str(swap_generation(root) + 1))
    os.replace(temp, root / _GENERATION)
