"""GC pauses and event-loop lag land in the registry's histograms."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

from cxloop.ops.metrics import Histogram, Registry
from cxloop.ops.pauses import GcWatch, freeze_startup_objects, watch_loop_lag


def _count(histogram: Histogram) -> int:
    return sum(histogram.counts)


def test_gc_watch_observes_full_collections_until_uninstalled() -> None:
    registry = Registry()
    watch = GcWatch(registry)
    watch.install()
    try:
        gc.collect()
        gc.collect()
        assert _count(watch.pauses[2]) >= 2
    finally:
        watch.uninstall()
    seen = _count(watch.pauses[2])
    gc.collect()
    assert _count(watch.pauses[2]) == seen
    assert watch._callback not in gc.callbacks


def test_loop_lag_sees_a_callback_that_holds_the_loop() -> None:
    registry = Registry()

    async def scenario() -> Histogram:
        task = asyncio.create_task(watch_loop_lag(registry, interval_s=0.005))
        await asyncio.sleep(0.05)
        time.sleep(0.06)  # noqa: ASYNC251 - the point: a blocking call holds the loop ~60 ms
        await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Registering the name again returns the histogram the watcher filled.
        return registry.histogram("cxloop_event_loop_lag_seconds", "")

    lag = asyncio.run(scenario())
    late = sum(
        count
        for bound, count in zip((*lag.buckets, float("inf")), lag.counts, strict=True)
        if bound > 0.025
    )
    assert late >= 1
    assert _count(lag) >= 5


def test_startup_objects_are_frozen_out_of_full_collections() -> None:
    registry = Registry()
    survivors = [[index] for index in range(1000)]
    try:
        frozen = freeze_startup_objects(registry)
        # The count can only fall after the freeze: a frozen object another thread lets go
        # of (a test's leftover executor, say) leaves the permanent generation.
        assert frozen >= len(survivors) and len(survivors) <= gc.get_freeze_count() <= frozen
        assert registry.gauge("cxloop_gc_frozen_objects", "").values[()] == frozen
        # A full collection no longer walks them: the collector does not even list them.
        tracked = {id(obj) for obj in gc.get_objects()}
        assert not any(id(survivor) in tracked for survivor in survivors)
        allocated_after = [[1]]
        assert id(allocated_after[0]) in {id(obj) for obj in gc.get_objects()}
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
