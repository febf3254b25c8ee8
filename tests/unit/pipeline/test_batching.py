"""The compaction batch: oldest first, at most four segments and 64 MiB (at least one)."""

from __future__ import annotations

import os
from pathlib import Path

from cxloop.pipeline import process
from cxloop.pipeline.process import _take_batch


def _segment(directory: Path, name: str, size: int) -> Path:
    path = directory / f"{name}.sealed"
    with open(path, "wb") as file:
        file.truncate(size)  # sparse: the size is what counts
    return path


def test_small_segments_batch_by_count(tmp_path: Path) -> None:
    sealed = [_segment(tmp_path, f"w0-{i}", 1 << 20) for i in range(6)]
    assert _take_batch(sealed) == sealed[: process.COMPACTION_BATCH_SEGMENTS]


def test_big_segments_batch_by_bytes_but_never_none(tmp_path: Path) -> None:
    full = 64 << 20
    sealed = [_segment(tmp_path, f"w0-{i}", full) for i in range(4)]
    assert _take_batch(sealed) == sealed[:1]
    huge = [_segment(tmp_path, "w1-0", 3 * full), *sealed]
    assert _take_batch(huge) == huge[:1]
    mixed = [_segment(tmp_path, "w2-0", 30 << 20), _segment(tmp_path, "w2-1", 30 << 20), *sealed]
    assert _take_batch(mixed) == mixed[:2]


def test_a_segment_gone_since_the_listing_ends_the_batch(tmp_path: Path) -> None:
    sealed = [_segment(tmp_path, f"w0-{i}", 1024) for i in range(3)]
    os.unlink(sealed[1])
    assert _take_batch(sealed) == sealed[:1]
