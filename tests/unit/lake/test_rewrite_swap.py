"""The partition swap behind merges: a reader never sees sources and merged file together, nor
neither; a crash at any step is settled by recovery into one whole file set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxloop.lake import (
    STAGING_DIR,
    events_dataset,
    exchange_supported,
    merge_files,
    purge_replaced,
    read_consistently,
    recover_swaps,
    swap_generation,
)
from cxloop.lake import rewrite as rewrite_module

pytestmark = pytest.mark.skipif(
    not exchange_supported(), reason="this kernel cannot exchange directories"
)

ROWS_PER_FILE = 10


def small_partition(lake: Path, files: int, day: str = "2026-01-01") -> Path:
    directory = lake / "events" / "project_id=p" / f"date={day}"
    directory.mkdir(parents=True)
    for f in range(files):
        ids = [f"m{f:04d}-{i}" for i in range(ROWS_PER_FILE)]
        times = pa.array([f * 100 + i for i in range(ROWS_PER_FILE)], pa.timestamp("us", "UTC"))
        table = pa.table({"message_id": ids, "timestamp": times, "received_at": times})
        pq.write_table(table, directory / f"part-w0-{f:04d}.parquet", sorting_columns=[
            pq.SortingColumn(1)
        ])  # fmt: skip
    return directory


def ids_in(directory: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(directory.glob("*.parquet")):
        out.extend(pq.read_table(path, columns=["message_id"]).column(0).to_pylist())
    return out


def test_readers_never_see_a_duplicate_or_a_gap_while_merges_run(tmp_path: Path) -> None:
    files = 120
    lake = tmp_path / "lake"
    directory = small_partition(lake, files)
    expected = sorted(ids_in(directory))
    stop = threading.Event()
    seen: dict[str, Any] = {"listings": 0, "vanished": 0, "duckdb": 0, "dataset": 0, "bad": []}

    def pyarrow_reader() -> None:
        while not stop.is_set():
            try:
                got = ids_in(directory)
            except FileNotFoundError:  # listed the old set, a source went: list again
                seen["vanished"] += 1
                continue
            seen["listings"] += 1
            if sorted(got) != expected:
                seen["bad"].append(len(got))

    def duckdb_reader() -> None:
        # DuckDB's glob skips a file that vanished between its listing and its stat: alone,
        # it may answer short during a swap. read_consistently notices and reads again.
        pattern = str(lake / "events" / "*" / "*" / "*.parquet")
        with duckdb.connect() as db:

            def count() -> tuple[int, int]:
                (row,) = db.execute(
                    "SELECT count(*), count(DISTINCT message_id) FROM read_parquet(?)",
                    [pattern],
                ).fetchall()
                return int(row[0]), int(row[1])

            while not stop.is_set():
                got = read_consistently(lake, count, retry_on=(duckdb.IOException,))
                seen["duckdb"] += 1
                if got != (len(expected), len(expected)):
                    seen["bad"].append(got)

    def dataset_reader() -> None:
        # pyarrow's dataset discovery, as privacy's export reads the lake.
        while not stop.is_set():
            table = read_consistently(
                lake,
                lambda: events_dataset(lake).to_table(columns=["message_id"]),
                retry_on=(FileNotFoundError, pa.ArrowInvalid),
            )
            seen["dataset"] += 1
            if sorted(table.column(0).to_pylist()) != expected:
                seen["bad"].append(table.num_rows)

    readers = [
        threading.Thread(target=pyarrow_reader),
        threading.Thread(target=duckdb_reader),
        threading.Thread(target=dataset_reader),
    ]
    for reader in readers:
        reader.start()
    try:
        # Merge two files at a time until one is left: 119 swaps. Every 10 swaps, wait (bounded)
        # until each reader has finished one more read, so all of them overlap the merges
        # however the machine schedules them (a seqlock reader retries while swaps keep coming).
        swaps = 0
        while len(names := sorted(p.name for p in directory.glob("*.parquet"))) > 1:
            pair = [directory / name for name in names[:2]]
            merge_files(pair, directory / f"part-m{len(names):04x}.parquet", row_group_rows=16)
            swaps += 1
            time.sleep(0.001)
            if swaps % 10 == 0:
                before = (seen["listings"], seen["duckdb"], seen["dataset"])
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not all(
                    now > then
                    for now, then in zip(
                        (seen["listings"], seen["duckdb"], seen["dataset"]), before, strict=True
                    )
                ):
                    time.sleep(0.005)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert seen["bad"] == []
    # Each reader overlapped several swaps (how many depends on the machine's load).
    assert seen["listings"] >= 3 and seen["duckdb"] >= 3 and seen["dataset"] >= 3
    assert sorted(ids_in(directory)) == expected
    # Every old set waits out its grace period aside, then goes.
    assert len(list((lake / STAGING_DIR).glob("*.replaced-*"))) == files - 1
    assert swap_generation(lake / STAGING_DIR) == 2 * (files - 1)  # even: none under way
    assert purge_replaced(lake / STAGING_DIR, grace_s=60) == 0
    assert purge_replaced(lake / STAGING_DIR, grace_s=0) == files - 1
    assert leftovers(lake) == []


def leftovers(lake: Path) -> list[str]:
    """What a swap left under the staging root besides old sets waiting out their grace."""
    root = lake / STAGING_DIR
    if not root.is_dir():
        return []
    return [p.name for p in root.iterdir() if ".replaced-" not in p.name and p.name != "generation"]


class Crash(BaseException):
    """A process dying at this point (not an error any code would catch)."""


def _fail(*_: object, **__: object) -> None:
    raise Crash


def _once(real: Callable[..., object]) -> Callable[..., object]:
    """``real``, then a crash right after it."""

    def run(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)
        raise Crash

    return run


# Each step of replace_files, and how to die there.
CRASH_POINTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "writing the journal": lambda mp: mp.setattr(rewrite_module, "_sync_file", _fail),
    "linking the kept files": lambda mp: mp.setattr(rewrite_module.os, "link", _fail),
    "writing the merged file": lambda mp: mp.setattr(rewrite_module, "_write_merged", _fail),
    "before the exchange": lambda mp: mp.setattr(rewrite_module, "_exchange", _fail),
    "after the exchange": lambda mp: mp.setattr(
        rewrite_module, "_exchange", _once(rewrite_module._exchange)
    ),
    "moving the old set aside": lambda mp: mp.setattr(rewrite_module.os, "rename", _fail),
    "after the old set went": lambda mp: mp.setattr(rewrite_module.os, "rename", _once(os.rename)),
    "removing the journal": lambda mp: mp.setattr(
        rewrite_module, "_finish_swap", _journal_left(rewrite_module._finish_swap)
    ),
}


def _journal_left(real: Callable[[Path, Path, Path, str], None]) -> Callable[..., None]:
    def run(journal: Path, stage: Path, directory: Path, token: str) -> None:
        saved = journal.read_bytes()
        real(journal, stage, directory, token)
        journal.write_bytes(saved)  # as if the unlink had not reached the disk
        raise Crash

    return run


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_at_each_step_is_settled_by_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    lake = tmp_path / "lake"
    directory = small_partition(lake, 6)
    expected = sorted(ids_in(directory))
    sources = sorted(directory.glob("*.parquet"))[:4]
    kept = sorted(p.name for p in directory.glob("*.parquet"))[4:]
    target = directory / "part-mfeed.parquet"
    with monkeypatch.context() as mp:
        CRASH_POINTS[point](mp)
        with pytest.raises(Crash):
            merge_files(sources, target)

    # Even before recovery, a reader sees one whole set: the old or the new.
    names = sorted(p.name for p in directory.glob("*.parquet"))
    assert names in ([p.name for p in sources] + kept, sorted([target.name, *kept]))
    assert sorted(ids_in(directory)) == expected

    assert recover_swaps(lake / STAGING_DIR) >= 1
    assert leftovers(lake) == []
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []
    assert sorted(ids_in(directory)) == expected
    # The merge can be run (again) and finishes.
    if target.exists():
        return
    merge_files(sources, target)
    assert sorted(p.name for p in directory.glob("*.parquet")) == sorted([target.name, *kept])
    assert sorted(ids_in(directory)) == expected


_MERGER = """
import sys, time
from pathlib import Path
from cxloop.lake import merge_files
directory = Path(sys.argv[1])
print("ready", flush=True)
while len(names := sorted(p.name for p in directory.glob("*.parquet"))) > 1:
    pair = [directory / n for n in names[:2]]
    merge_files(pair, directory / f"part-m{len(names):04x}.parquet", row_group_rows=16)
"""


def _killed_after(directory: Path, delay: float) -> None:
    merger = subprocess.Popen(
        [sys.executable, "-c", _MERGER, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert merger.stdout is not None and merger.stdout.readline().strip() == "ready"
    time.sleep(delay)
    merger.send_signal(signal.SIGKILL)
    merger.wait()


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.4])
def test_kill_9_mid_merges_then_recovery(tmp_path: Path, delay: float) -> None:
    lake = tmp_path / "lake"
    directory = small_partition(lake, 200)
    expected = sorted(ids_in(directory))
    _killed_after(directory, delay)
    assert sorted(ids_in(directory)) == expected  # one whole set, before any recovery
    recover_swaps(lake / STAGING_DIR)
    assert leftovers(lake) == []
    assert sorted(ids_in(directory)) == expected
    assert [p.name for p in directory.iterdir() if not p.name.endswith(".parquet")] == []
