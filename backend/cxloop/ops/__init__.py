"""Operations: metrics shared across processes, process lifetime and logging, GC and
event-loop watches, and the liveness, readiness and metrics routes."""

from cxloop.ops.controller import OpsController
from cxloop.ops.metrics import (
    ACK_LATENCY_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Registry,
    merge_snapshots,
    read_snapshots,
    render,
    write_snapshot_bytes,
)
from cxloop.ops.pauses import GcWatch, freeze_startup_objects, watch_loop_lag
from cxloop.ops.process import configure_logging, parent_death_signal, stop_with_parent
from cxloop.ops.runtime import Runtime, WalReadiness

__all__ = [
    "ACK_LATENCY_BUCKETS",
    "Counter",
    "Gauge",
    "GcWatch",
    "Histogram",
    "OpsController",
    "Registry",
    "Runtime",
    "WalReadiness",
    "configure_logging",
    "freeze_startup_objects",
    "merge_snapshots",
    "parent_death_signal",
    "read_snapshots",
    "render",
    "stop_with_parent",
    "watch_loop_lag",
    "write_snapshot_bytes",
]
