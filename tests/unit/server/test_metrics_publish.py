"""A worker's metrics snapshot published from two places at once (``GET /metrics`` and the
once-a-second loop) never fails: the writes share one temporary file, so they take turns."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cxloop.ops import Registry, Runtime


async def test_concurrent_publishes_all_succeed(tmp_path: Path) -> None:
    registry = Registry()
    counter = registry.counter("cxloop_test_total", "A counter.")
    none: Any = None
    runtime = Runtime(
        registry=registry, writer=none, database=none, metrics_dir=tmp_path, process_name="w0"
    )

    async def publish(i: int) -> None:
        counter.inc()
        await runtime.publish_metrics_snapshot()

    # Without turns, a rename finds the temporary file already renamed by another thread.
    results = await asyncio.gather(*(publish(i) for i in range(200)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    snapshot = json.loads(runtime.metrics_file.read_text())
    assert snapshot["metrics"]["cxloop_test_total"]["samples"] == [[[], 200.0]]
