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

A merge (N files → one, for small-file compaction) is made crash-safe by an intent file
written before the target is published: :func:`recover_merges` finishes a merge whose target
is in place (removes the sources it replaced) and abandons one whose target is not.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxloop.lake.compactor import DEFAULT_ROW_GROUP_ROWS
from cxloop.lake.paced import PacedFile
from cxloop.wal import fsync_dir

__all__ = [
    "KeepRows",
    "RewriteResult",
    "clean_stale_temps",
    "merge_files",
    "recover_merges",
    "remove_file",
    "rewrite_file",
    "temp_path",
]

# Given a file's whole table, which rows stay (True) — nulls count as False.
KeepRows = Callable[[pa.Table], pa.Array | pa.ChunkedArray]

_TEMP_SUFFIX = ".rewrite.tmp"
_INTENT_PREFIX = ".merge-"
_INTENT_SUFFIX = ".intent"


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
    path: Path, keep: KeepRows, *, row_group_rows: int = DEFAULT_ROW_GROUP_ROWS
) -> RewriteResult:
    """Replace ``path`` by a file holding only the rows ``keep`` selects, atomically.

    Nothing is written when every row stays; the file is removed when none does.
    """
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


def remove_file(path: Path) -> None:
    """Unlink a lake file durably (its directory is synced)."""
    path.unlink(missing_ok=True)
    temp_path(path).unlink(missing_ok=True)
    fsync_dir(path.parent)


def merge_files(
    sources: Sequence[Path], target: Path, *, row_group_rows: int = DEFAULT_ROW_GROUP_ROWS
) -> RewriteResult:
    """Write every row of ``sources`` (in their order) to ``target`` and remove the sources.

    All paths are in one directory and share a schema; ``target`` may be one of the sources.
    Crash-safe with :func:`recover_merges`: readers may see the target beside a source only
    between the publication and the unlinks that follow it at once.
    """
    if not sources:
        raise ValueError("merge_files needs at least one source")
    directory = target.parent
    if any(source.parent != directory for source in sources):
        raise ValueError("merge_files works inside one directory")
    first = pq.ParquetFile(sources[0])
    options = _write_options(first.metadata)
    schema = first.schema_arrow
    tables = [pq.read_table(source).cast(schema) for source in sources]
    table = pa.concat_tables(tables)
    before = sum(source.stat().st_size for source in sources)
    # Order: temp (synced), then the intent, then the rename. An intent beside its temp means
    # "not published"; an intent without one means "published, sources still to remove".
    written = _write_temp(table, target, row_group_rows, options)
    intent = directory / f"{_INTENT_PREFIX}{target.name}{_INTENT_SUFFIX}"
    intent.write_text(json.dumps([s.name for s in sources if s != target]))
    _sync_file(intent)
    fsync_dir(directory)
    _rename(target)
    _finish_merge(intent, directory)
    return RewriteResult(target, table.num_rows, table.num_rows, before, written)


def recover_merges(directory: Path) -> int:
    """Finish or abandon merges a crash interrupted in ``directory``; how many were found."""
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
    return temp.stat().st_size


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
