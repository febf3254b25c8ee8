"""Where a worker's time goes when it is not answering: GC pauses and event-loop lag.

An ack waits for its group commit, but also for the event loop to get round to it. These two
histograms tell an operator whether a slow p99 is the disk (``cxloop_wal_fsync_seconds``) or
the process itself: a garbage collection walking every object, or a callback that held the
loop (``cxloop_event_loop_lag_seconds`` is how late a 10 ms timer fires).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from cxloop.ops.metrics import Histogram, Registry

__all__ = ["GcWatch", "freeze_startup_objects", "watch_loop_lag"]

_PAUSE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class GcWatch:
    """Observes each collection's pause in ``cxloop_gc_gen<N>_pause_seconds``."""

    def __init__(self, registry: Registry) -> None:
        self._started = 0.0
        self.pauses: list[Histogram] = [
            registry.histogram(
                f"cxloop_gc_gen{generation}_pause_seconds",
                f"Pause of each generation-{generation} garbage collection.",
                buckets=_PAUSE_BUCKETS,
            )
            for generation in range(3)
        ]

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].observe(time.perf_counter() - self._started)

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


def freeze_startup_objects(registry: Registry) -> int:
    """Move everything alive now into the permanent generation; returns how many objects.

    Called once start-up is done: the app, its routes, every imported module and cache live
    as long as the worker, yet each full collection walked all of them with the loop held.
    Frozen, a full collection under load walks only what requests allocated. Exported as ``cxloop_gc_frozen_objects``.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    registry.gauge(
        "cxloop_gc_frozen_objects", "Start-up objects moved out of the collector's reach."
    ).set(frozen)
    return frozen


async def watch_loop_lag(registry: Registry, interval_s: float = 0.01) -> None:
    """Run forever: observe how much later than asked each ``interval_s`` sleep returns."""
    lag = registry.histogram(
        "cxloop_event_loop_lag_seconds",
        f"How late a {interval_s * 1000:g} ms timer fires on the worker's event loop.",
        buckets=_PAUSE_BUCKETS,
    )
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(interval_s)
        lag.observe(max(0.0, time.perf_counter() - asked - interval_s))
