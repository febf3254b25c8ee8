"""Small-file compaction of the lake: a bounded number of files per partition-day.

Every compaction batch writes one ``part-<segment>.parquet`` into each (project, date) it
touches, so a day that keeps receiving late events collects many tiny files. This merges
them, size-tiered (as LSM stores do) so each row is rewritten about once per tier rather than
once per merge:

- only files smaller than ``target_bytes`` take part; larger ones are left alone;
- a small file's tier is how many times ``min_files`` (m) divides ``target_bytes`` down to
  its size: tier 0 is ``[target/m, target)``, tier 1 ``[target/m², target/m)``, …, down to
  the last bound that is still ≥ 1 MiB; every smaller file shares the last tier (rewriting
  a few MiB is cheap, and the file count is what matters there);
- when a tier holds ``min_files`` (m) files or more, its smallest files are merged into one —
  all of them, or, in tier 0, as many as reach ``target_bytes`` (so a merged file stays under
  twice the target). The merged file is a tier or more up, and may set off the next merge.

So a partition-day holds at most ``(m − 1) × T`` small files, ``T = 1 + max(1, ⌊log_m(target /
1 MiB)⌋)`` tiers (m = 8, 128 MiB: 3 tiers, at most 21 small files), plus its large files (each ≥
``target_bytes``: at most the partition's bytes / target of them). Both stores are tidied —
events and failed — late-event partitions like any other.

A merge replaces its sources by ``part-m<hash of the source names>.parquet`` through the
partition swap of :mod:`cxloop.lake.rewrite` (atomic for readers, crash-safe, recovered by
:func:`recover_lake`). The name is stable on a crash-retry and never collides with a
compactor's ``part-<slot>-<ns>.parquet`` (a segment id always holds a '-', the hash never).
Exactly once holds: the merged rows are the union of the sources', and the dedupe index is
not involved (it records which segment owns a row, not which file holds it). The pipeline is
the lake's only writer and runs compaction, merges, privacy rewrites and retention one after
another, so no lock is needed.

On object storage a merge is a PUT of the merged file and then DELETEs of its sources
(:func:`cxloop.lake.rewrite.merge_objects`); before a partition is planned, a merge a crash
interrupted there is finished (:func:`cxloop.lake.finish_merges`). Several nodes share such a
lake: ``leases`` (:class:`PartitionLeases`) lets the cluster give each partition to one node
at a time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cxloop.lake.compactor import DEFAULT_ROW_GROUP_ROWS, EVENTS_STORE, FAILED_STORE
from cxloop.lake.location import LakeLocation
from cxloop.lake.objects import as_location, finish_merges, list_partitions, live_files
from cxloop.lake.rewrite import (
    STAGING_DIR,
    clean_stale_temps,
    merge_files,
    merge_objects,
    purge_replaced,
    recover_merges,
    recover_swaps,
)

__all__ = [
    "MERGE_FLOOR_BYTES",
    "PartitionLeases",
    "TidyReport",
    "max_small_files",
    "merged_name",
    "plan_merge",
    "recover_lake",
    "tidy_partition",
    "tidy_partitions",
]

log = logging.getLogger("cxloop.lake")

# Below this, every small file is in one tier.
MERGE_FLOOR_BYTES = 1024 * 1024
_MERGED_PREFIX = "part-m"


class PartitionLeases(Protocol):
    """Who may merge in a partition, when several nodes share the lake (cluster mode).

    ``hold(partition)`` (``partition`` relative to the lake root, e.g.
    ``events/project_id=p/date=2026-12-01``) is entered around the partition's merges and
    yields True while this node holds the partition's lease, False when another node does
    (the partition is skipped). Called from the tidy thread: a synchronous implementation."""

    def hold(self, partition: str) -> AbstractContextManager[bool]: ...


@dataclass(frozen=True, slots=True)
class TidyReport:
    merges: int = 0
    files_merged: int = 0  # sources replaced
    bytes_written: int = 0
    seconds: float = 0.0
    # Partitions not looked at, or not finished, when the budget ran out: pass them again.
    # (A partition is a Path: its directory, or on object storage its key as a path.)
    remaining: tuple[Path, ...] = ()
    # Partitions ``skip`` held back (a deletion is rewriting that project's files): later.
    deferred: tuple[Path, ...] = ()
    # Partitions another node held the lease of (``leases``): its to tidy.
    leased_elsewhere: int = 0
    # Sources of merges a crash interrupted (object storage), deleted before planning.
    finished_sources: int = 0


def merged_name(sources: Iterable[str]) -> str:
    """``part-m<hash>.parquet``: the same for a retry of the same merge."""
    digest = hashlib.blake2b("\n".join(sorted(sources)).encode(), digest_size=10).hexdigest()
    return f"{_MERGED_PREFIX}{digest}.parquet"


def _check(min_files: int, target_bytes: int) -> None:
    if min_files < 2:
        raise ValueError(
            f"lake_merge_min_files must be at least 2 (0 turns merging off), not {min_files}"
        )
    if target_bytes < 1:
        raise ValueError(f"lake_target_file_bytes must be positive, not {target_bytes}")


def _tiers(min_files: int, target_bytes: int) -> list[int]:
    """Lower bounds of the tiers but the last, largest first; the last takes the rest."""
    bounds = [target_bytes // min_files]
    while bounds[-1] // min_files >= MERGE_FLOOR_BYTES:
        bounds.append(bounds[-1] // min_files)
    return bounds


def max_small_files(min_files: int, target_bytes: int) -> int:
    """At most this many files under ``target_bytes`` stay in a tidied partition-day."""
    _check(min_files, target_bytes)
    return (min_files - 1) * (len(_tiers(min_files, target_bytes)) + 1)


def plan_merge(sizes: Mapping[str, int], *, min_files: int, target_bytes: int) -> list[str] | None:
    """The files (names) to merge next in a partition with these file sizes, or None."""
    _check(min_files, target_bytes)
    small = sorted((size, name) for name, size in sizes.items() if size < target_bytes)
    if len(small) < min_files:
        return None
    bounds = _tiers(min_files, target_bytes)
    tiers: dict[int, list[tuple[int, str]]] = {}
    for size, name in small:
        tier = next((t for t, low in enumerate(bounds) if size >= low), len(bounds))
        tiers.setdefault(tier, []).append((size, name))
    for tier in sorted(tiers, reverse=True):  # the smallest files first: cheapest merges
        members = tiers[tier]
        if len(members) < min_files:
            continue
        picked: list[str] = []
        total = 0
        for size, name in members:
            picked.append(name)
            total += size
            if total >= target_bytes and len(picked) >= 2:
                break
        return sorted(picked)
    return None


def tidy_partition(
    directory: Path,
    *,
    min_files: int,
    target_bytes: int,
    deadline: float = float("inf"),
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    location: LakeLocation | None = None,
) -> tuple[TidyReport, bool]:
    """Merge in one partition-day until the policy is satisfied or ``deadline`` (monotonic)
    passes; the report and whether it was finished. With an object-store ``location``,
    ``directory`` is the partition relative to the lake root."""
    if location is not None and location.local is None:
        return _tidy_objects(
            location,
            directory.as_posix(),
            min_files=min_files,
            target_bytes=target_bytes,
            deadline=deadline,
            row_group_rows=row_group_rows,
        )
    started = time.perf_counter()
    merges = files = written = 0
    finished = True
    while True:
        try:
            sizes = {p.name: p.stat().st_size for p in directory.glob("*.parquet")}
        except FileNotFoundError:  # removed (retention) since it was listed
            break
        plan = plan_merge(sizes, min_files=min_files, target_bytes=target_bytes)
        if plan is None:
            break
        if time.monotonic() >= deadline:
            finished = False
            break
        target = directory / merged_name(plan)
        result = merge_files(
            [directory / name for name in plan], target, row_group_rows=row_group_rows
        )
        merges += 1
        files += len(plan)
        written += result.bytes_written
        log.debug("merged %d files (%d bytes) into %s", len(plan), result.bytes_before, target)
    report = TidyReport(merges, files, written, time.perf_counter() - started)
    return report, finished


def _tidy_objects(
    location: LakeLocation,
    partition: str,
    *,
    min_files: int,
    target_bytes: int,
    deadline: float,
    row_group_rows: int,
) -> tuple[TidyReport, bool]:
    """:func:`tidy_partition` on object storage (``partition`` relative to the root)."""
    started = time.perf_counter()
    merges = files = written = 0
    finished = True
    recovered = finish_merges(location, partition)  # a crash's half-done merge first
    while True:
        listing = live_files(location, partition)  # never a merged file's sources
        plan = plan_merge(
            {f.name: f.size for f in listing}, min_files=min_files, target_bytes=target_bytes
        )
        if plan is None:
            break
        if time.monotonic() >= deadline:
            finished = False
            break
        keys = {f.name: f.key for f in listing}
        target = location.path(partition, merged_name(plan))
        try:
            result = merge_objects(
                location, [keys[name] for name in plan], target, row_group_rows=row_group_rows
            )
        except FileNotFoundError:  # a source went (retention, an erasure) since the listing
            log.info("a source of a merge in %s went meanwhile; the partition is left", partition)
            break
        merges += 1
        files += len(plan)
        written += result.bytes_written
        log.debug("merged %d objects (%d bytes) into %s", len(plan), result.bytes_before, target)
    seconds = time.perf_counter() - started
    report = TidyReport(merges, files, written, seconds, finished_sources=recovered)
    return report, finished


def tidy_partitions(
    lake_dir: Path | LakeLocation,
    dirty: Iterable[Path] | None,
    *,
    min_files: int,
    target_bytes: int,
    budget_s: float,
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    skip: Callable[[Path], bool] | None = None,
    leases: PartitionLeases | None = None,
) -> TidyReport:
    """Tidy the partition directories in ``dirty`` (those compaction just wrote to), in its
    order, or every partition of both stores when ``dirty`` is None; no new merge starts after ``budget_s``
    (one merge in progress finishes). ``min_files`` 0 turns merging off. A partition for
    which ``skip`` says True is left for later (``deferred``): an erasure that listed a
    project's files and will rewrite them must find them where it listed them.

    ``lake_dir`` is the lake's location (a ``Path``: a local lake). On object storage a
    partition in ``dirty`` is its key as a path (``CompactionResult.files``' parents) or
    relative to the root. With ``leases``, a partition is tidied only while this node holds
    its lease; one another node holds is skipped (``leased_elsewhere``)."""
    started = time.perf_counter()
    deadline = time.monotonic() + budget_s
    if min_files == 0:
        return TidyReport()
    _check(min_files, target_bytes)
    location = as_location(lake_dir)
    if location.local is not None:
        purge_replaced(location.local / STAGING_DIR)  # old file sets past their grace period
    # In the caller's order (it puts those a budget left over first), each once.
    todo = list(dict.fromkeys(dirty)) if dirty is not None else _all_partitions(location)
    merges = files = written = elsewhere = recovered = 0
    remaining: list[Path] = []
    deferred: list[Path] = []
    for i, directory in enumerate(todo):
        if time.monotonic() >= deadline:
            remaining.extend(todo[i:])
            break
        if skip is not None and skip(directory):
            deferred.append(directory)
            continue
        relative = _relative(location, directory)
        if leases is None:
            report, finished = _tidy_one(
                location, directory, relative, deadline, min_files, target_bytes, row_group_rows
            )
        else:
            with leases.hold(relative) as held:
                if not held:
                    elsewhere += 1
                    continue
                report, finished = _tidy_one(
                    location, directory, relative, deadline, min_files, target_bytes, row_group_rows
                )
        merges += report.merges
        files += report.files_merged
        written += report.bytes_written
        recovered += report.finished_sources
        if not finished:
            remaining.extend(todo[i:])
            break
    seconds = time.perf_counter() - started
    return TidyReport(
        merges,
        files,
        written,
        seconds,
        tuple(remaining),
        tuple(deferred),
        leased_elsewhere=elsewhere,
        finished_sources=recovered,
    )


def _tidy_one(
    location: LakeLocation,
    directory: Path,
    relative: str,
    deadline: float,
    min_files: int,
    target_bytes: int,
    row_group_rows: int,
) -> tuple[TidyReport, bool]:
    return tidy_partition(
        directory if location.local is not None else Path(relative),
        min_files=min_files,
        target_bytes=target_bytes,
        deadline=deadline,
        row_group_rows=row_group_rows,
        location=location,
    )


def _relative(location: LakeLocation, partition: Path) -> str:
    """A partition (a local directory, a key as a path, or already relative) relative to the
    lake root, ``<store>/project_id=…/date=…``."""
    text = partition.as_posix()
    root = location.local.as_posix() if location.local is not None else location.root
    if text.startswith(root + "/"):
        return text[len(root) + 1 :]
    return text


def recover_lake(lake_dir: Path | LakeLocation) -> int:
    """Settle what a crash left half-done in the lake's merges: swaps first (the journal
    under ``.merge``), then intent-file merges and stale temps in each partition; how many.
    On object storage: the sources of merges interrupted between PUT and DELETE."""
    location = as_location(lake_dir)
    if location.local is None:
        return sum(finish_merges(location, p) for p in _relative_partitions(location))
    lake_dir = location.local
    found = recover_swaps(lake_dir / STAGING_DIR)
    purge_replaced(lake_dir / STAGING_DIR)
    for directory in _all_partitions(location):
        found += recover_merges(directory)
        found += clean_stale_temps(directory)
    return found


def _all_partitions(location: LakeLocation) -> list[Path]:
    if location.local is None:
        return [Path(p) for p in _relative_partitions(location)]
    out: list[Path] = []
    for store in (EVENTS_STORE, FAILED_STORE):
        out.extend(sorted((location.local / store).glob("project_id=*/date=*")))
    return out


def _relative_partitions(location: LakeLocation) -> list[str]:
    return [p for store in (EVENTS_STORE, FAILED_STORE) for p in list_partitions(location, store)]
