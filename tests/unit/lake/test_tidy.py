"""Small-file merging: the size-tiered policy and its bound, stable names, and merged files that
keep the compactor's schema, order and write options with every row exactly once."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cxloop.ingest import events_table
from cxloop.lake import (
    DEFAULT_ROW_GROUP_ROWS,
    compactor,
    events_dataset,
    failed_dataset,
    max_small_files,
    merged_name,
    plan_merge,
    rewrite,
    tidy_partitions,
)
from cxloop.wal import read_segment, segment_id
from tests.helpers.rows import wal_row
from tests.helpers.segments import BASE_US, DAY_US, failed_row, segment_path, write_segment

MiB = 1024 * 1024


# -- the policy ------------------------------------------------------------------------------


def test_nothing_is_planned_below_min_files_and_large_files_are_left_alone() -> None:
    small = {f"part-{i}.parquet": 10_000 for i in range(7)}
    assert plan_merge(small, min_files=8, target_bytes=128 * MiB) is None
    large = {f"big-{i}.parquet": 128 * MiB for i in range(20)}
    assert plan_merge({**small, **large}, min_files=8, target_bytes=128 * MiB) is None
    eight = {**small, "part-7.parquet": 9_000, **large}
    assert plan_merge(eight, min_files=8, target_bytes=128 * MiB) == sorted(
        [*small, "part-7.parquet"]
    )


def test_similar_sizes_merge_together_smallest_tier_first() -> None:
    sizes = {f"mid-{i}": 5 * MiB for i in range(8)}  # tier [2, 16) MiB
    sizes |= {f"tiny-{i}": 20_000 for i in range(8)}  # the last tier (< 2 MiB)
    sizes["lone"] = 40 * MiB  # tier [16, 128) MiB, alone
    first = plan_merge(sizes, min_files=8, target_bytes=128 * MiB)
    assert first == sorted(f"tiny-{i}" for i in range(8))
    del sizes["tiny-0"]
    assert plan_merge(sizes, min_files=8, target_bytes=128 * MiB) == sorted(
        f"mid-{i}" for i in range(8)
    )


def test_a_top_tier_merge_stops_once_it_reaches_the_target() -> None:
    sizes = {f"f{i}": 20 * MiB for i in range(8)}
    plan = plan_merge(sizes, min_files=8, target_bytes=128 * MiB)
    assert plan is not None and len(plan) == 7  # 7 x 20 MiB >= 128 MiB: under 2x the target


@pytest.mark.parametrize(("min_files", "target"), [(8, 128 * MiB), (4, 64 * MiB), (2, 8 * MiB)])
def test_files_stay_bounded_and_each_byte_is_rewritten_a_few_times(
    min_files: int, target: int
) -> None:
    """Simulated: a file per compaction batch (6 KB to 3 MB), merged after each one."""
    rng = random.Random(min_files)
    sizes: dict[str, int] = {}
    written = arrived = 0
    for n in range(3000):
        size = int(rng.choice([6_000, 15_000, 200_000, 3 * MiB]))
        sizes[f"part-w0-{n}"] = size
        arrived += size
        while (plan := plan_merge(sizes, min_files=min_files, target_bytes=target)) is not None:
            merged = sum(sizes.pop(name) for name in plan)
            written += merged
            sizes[merged_name(plan)] = merged
        small = [s for s in sizes.values() if s < target]
        assert len(small) <= max_small_files(min_files, target)
        assert all(s < 2 * target for s in sizes.values())
    # Size-tiered: about once per tier (3 or 4 tiers here), not once per merge.
    assert written / arrived < len(str(target)) and written / arrived < 6


def test_the_bound_formula() -> None:
    assert max_small_files(8, 128 * MiB) == 7 * 3  # tiers [16, 128), [2, 16), < 2 MiB
    assert max_small_files(2, 4 * MiB) == 1 * 3  # [2, 4), [1, 2), < 1 MiB
    assert max_small_files(8, 4 * MiB) == 7 * 2  # [0.5, 4), < 0.5 MiB
    with pytest.raises(ValueError, match="at least 2"):
        max_small_files(1, 128 * MiB)
    with pytest.raises(ValueError, match="positive"):
        plan_merge({}, min_files=8, target_bytes=0)


def test_merged_names_are_stable_and_never_a_segment_file_name() -> None:
    a = merged_name(["part-w0-1.parquet", "part-w1-2.parquet"])
    assert a == merged_name(["part-w1-2.parquet", "part-w0-1.parquet"])
    assert a != merged_name(["part-w0-1.parquet", "part-w1-3.parquet"])
    assert a.startswith("part-m") and a.endswith(".parquet")
    # A compactor file is part-<slot>-<ns>.parquet: a segment id always holds a '-'.
    assert "-" not in a.removeprefix("part-")


# -- merging real compactor files ---------------------------------------------------------


def many_small_files(root: Path, segments: int, per: int = 5, days: int = 2) -> list[Any]:
    """What ``segments`` compaction batches write: each a few events on each of ``days`` days
    (timestamps interleaved across batches) plus one failed event, one file per partition,
    written by the compactor's own file writer (the dedupe index is not what is tested)."""
    rows: list[Any] = []
    for s in range(segments):
        batch = [
            wal_row(
                f"m{s:03d}-{d}-{i}",
                user_id=f"u{i}",
                timestamp=BASE_US - d * DAY_US + (i * segments + s) * 1000,
                received_at=BASE_US + s,
                properties=f'{{"feature":"f{i}","n":{s}}}',
            )
            for d in range(days)
            for i in range(per)
        ]
        batch.append(failed_row(f"bad-{s:03d}", received_at=BASE_US + s))
        rows.extend(batch)
        write_batch(root / "lake", segment_id(segment_path(root, s + 1)), batch)
    return rows


def write_batch(lake: Path, segment: str, rows: list[Any]) -> list[Path]:
    table = events_table(
        read_segment(write_segment(lake.parent / "wal" / f"{segment}.sealed", [rows]))
    )
    valid = pc.is_null(table.column("failure_reason"))
    metadata = {b"cxloop.segment": segment.encode()}
    files: list[Path] = []
    for store, selected in ((compactor._EVENTS, valid), (compactor._FAILED, pc.invert(valid))):
        _, written, _ = compactor._write_store(
            compactor._Columns(table, pc.indices_nonzero(selected)),
            store,
            segment,
            lake,
            DEFAULT_ROW_GROUP_ROWS,
            metadata,
        )
        files.extend(written)
    return files


def partitions(lake: Path) -> list[Path]:
    return sorted(lake.glob("*/project_id=*/date=*"))


def test_tidy_merges_every_store_keeping_rows_order_schema_and_options(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    many_small_files(tmp_path, segments=20)
    before_events = events_dataset(lake).to_table().sort_by("message_id")
    before_failed = failed_dataset(lake).to_table().sort_by("message_id")
    original = pq.ParquetFile(next(lake.glob("events/*/*/*.parquet")))
    assert [len(list(p.glob("*.parquet"))) for p in partitions(lake)] == [20, 20, 20]

    report = tidy_partitions(lake, None, min_files=8, target_bytes=128 * MiB, budget_s=60)
    assert report.merges == 3 and report.files_merged == 60 and report.remaining == ()
    assert [len(list(p.glob("*.parquet"))) for p in partitions(lake)] == [1, 1, 1]
    # Nothing left in staging but the old sets, waiting out their grace period.
    staged = [p.name for p in (lake / ".merge").iterdir() if p.name != "generation"]
    assert staged and all(".replaced-" in name for name in staged)
    # Exactly the same rows, each once.
    assert events_dataset(lake).to_table().sort_by("message_id").equals(before_events)
    assert failed_dataset(lake).to_table().sort_by("message_id").equals(before_failed)
    for directory in partitions(lake):
        (path,) = directory.glob("*.parquet")
        merged = pq.ParquetFile(path)
        store_key = "timestamp" if "events" in path.parts else "received_at"
        table = merged.read()
        times = table.column(store_key)
        assert pc.all(pc.less_equal(times[:-1], times[1:])).as_py()  # sorted by the date
        group = merged.metadata.row_group(0)
        (sorting,) = group.sorting_columns
        assert merged.schema_arrow.names[sorting.column_index] == store_key
        assert b"cxloop.merged_from" in merged.schema_arrow.metadata
        if store_key == "timestamp":
            assert merged.schema_arrow.remove_metadata() == original.schema_arrow.remove_metadata()
            first = original.metadata.row_group(0)
            for i in range(first.num_columns):
                assert group.column(i).compression == first.column(i).compression
                assert group.column(i).has_dictionary_page == first.column(i).has_dictionary_page
                assert group.column(i).is_stats_set == first.column(i).is_stats_set

    # Tidy again: nothing to do; new small files start a new round.
    again = tidy_partitions(lake, None, min_files=8, target_bytes=128 * MiB, budget_s=60)
    assert again.merges == 0


def test_only_dirty_partitions_are_looked_at_and_the_budget_carries_work_over(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    many_small_files(tmp_path, segments=9)
    dirs = partitions(lake)
    report = tidy_partitions(lake, [dirs[0]], min_files=8, target_bytes=128 * MiB, budget_s=60)
    assert report.merges == 1
    assert [len(list(p.glob("*.parquet"))) for p in dirs] == [1, 9, 9]

    spent = tidy_partitions(lake, dirs, min_files=8, target_bytes=128 * MiB, budget_s=0)
    assert spent.merges == 0 and set(spent.remaining) == set(dirs)
    rest = tidy_partitions(lake, spent.remaining, min_files=8, target_bytes=128 * MiB, budget_s=60)
    assert rest.merges == 2 and rest.remaining == ()
    off = tidy_partitions(lake, None, min_files=0, target_bytes=128 * MiB, budget_s=60)
    assert off == type(off)()


def test_partitions_held_back_by_skip_are_deferred_untouched(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    many_small_files(tmp_path, segments=9)
    failed = [d for d in partitions(lake) if d.parts[-3] == "failed"]
    report = tidy_partitions(
        lake,
        None,
        min_files=8,
        target_bytes=128 * MiB,
        budget_s=60,
        skip=lambda d: d.parts[-3] == "failed",
    )
    assert report.merges == 2 and report.remaining == () and list(report.deferred) == failed
    assert [len(list(d.glob("*.parquet"))) for d in failed] == [9]


def test_partitions_are_tidied_in_the_callers_order_so_left_over_work_goes_first(
    tmp_path: Path,
) -> None:
    # The pipeline passes what a budget left over first: sorting them again would let the
    # first partitions, dirtied by every batch, starve the last ones under a standing load.
    lake = tmp_path / "lake"
    many_small_files(tmp_path, segments=9)
    dirs = partitions(lake)
    order = [dirs[2], dirs[0], dirs[1], dirs[2]]
    visited: list[Path] = []

    def record(directory: Path) -> bool:
        visited.append(directory)
        return False

    report = tidy_partitions(
        lake, order, min_files=8, target_bytes=128 * MiB, budget_s=60, skip=record
    )
    assert visited == [dirs[2], dirs[0], dirs[1]]  # as given, each once
    assert report.merges == 3


def test_large_inputs_are_merged_in_batches_still_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above MERGE_IN_MEMORY_BYTES a merge reads its sources a batch at a time."""
    monkeypatch.setattr(rewrite, "MERGE_IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(rewrite, "MERGE_BUFFER_ROWS", 8)  # batches of max(256, 8 // n) rows
    lake = tmp_path / "lake"
    many_small_files(tmp_path, segments=8, per=1500, days=1)  # 6 batches a file
    (directory,) = [d for d in partitions(lake) if d.parts[-3] == "events"]
    before = sorted(events_dataset(lake).to_table().column("message_id").to_pylist())
    report = tidy_partitions(lake, [directory], min_files=8, target_bytes=128 * MiB, budget_s=60)
    assert report.merges == 1
    (path,) = directory.glob("*.parquet")
    table = pq.read_table(path)
    times = table.column("timestamp")
    assert pc.all(pc.less_equal(times[:-1], times[1:])).as_py()
    assert sorted(table.column("message_id").to_pylist()) == before


@pytest.mark.parametrize("exchange", [True, False], ids=["swap", "intent-fallback"])
def test_a_merge_bigger_than_its_memory_bounds_completes_in_groups_and_short_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    """Sources whose readers together pass MERGE_READERS_BYTES are merged in groups into
    hidden temps, then those into the target; an output row group is cut once it holds
    MERGE_ROW_GROUP_BYTES. Every row once, in order, the temps gone, the sources named —
    through the partition swap and through the intent-file fallback alike."""
    if not exchange:
        monkeypatch.setattr(rewrite, "_EXCHANGE", None)
    elif not rewrite.exchange_supported():
        pytest.skip("this kernel cannot exchange directories")
    monkeypatch.setattr(rewrite, "MERGE_IN_MEMORY_BYTES", 0)  # read a batch at a time
    monkeypatch.setattr(rewrite, "MERGE_READERS_BYTES", 1)  # every source is over it
    monkeypatch.setattr(rewrite, "MERGE_ROW_GROUP_BYTES", 64 * 1024)
    passes: list[int] = []
    merge_into = rewrite._merge_into

    def counted(
        sources: Any, final: Path, row_group_rows: int, merged_from: Any, **options: Any
    ) -> int:
        passes.append(len(sources))
        if final.name.startswith("."):  # a group's temp: hidden from readers, beside the target
            assert final.name.endswith(".rewrite.tmp")
        return merge_into(sources, final, row_group_rows, merged_from, **options)

    monkeypatch.setattr(rewrite, "_merge_into", counted)
    lake = tmp_path / "lake"
    many_small_files(tmp_path, segments=9, per=400, days=1)
    (directory,) = [d for d in partitions(lake) if d.parts[-3] == "events"]
    sources = sorted(p.name for p in directory.glob("*.parquet"))
    before = sorted(events_dataset(lake).to_table().column("message_id").to_pylist())

    report = tidy_partitions(lake, [directory], min_files=8, target_bytes=128 * MiB, budget_s=60)

    assert report.merges == 1 and report.files_merged == 9
    # Groups of two (the last of three): 9 -> 4 temps -> 2 -> the target.
    assert passes == [2, 2, 2, 3, 2, 2, 2]
    (path,) = directory.glob("*.parquet")
    assert [p.name for p in directory.iterdir()] == [path.name]  # no temp left behind
    merged = pq.ParquetFile(path)
    assert merged.metadata.num_row_groups > 1  # cut by bytes, not at 128k rows
    table = merged.read()
    times = table.column("timestamp")
    assert pc.all(pc.less_equal(times[:-1], times[1:])).as_py()
    assert sorted(table.column("message_id").to_pylist()) == before
    metadata = merged.schema_arrow.metadata
    assert metadata[b"cxloop.merged_from"] == json.dumps(sources).encode()
