"""Operations: metrics shared across processes, process lifetime and logging, GC and
event-loop watches, and the liveness, readiness and metrics routes."""

from typing import TYPE_CHECKING

from cxloop.ops.duck import DUCKDB_MEMORY_LIMIT, duckdb_config, duckdb_connect
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
from cxloop.ops.process import (
    configure_logging,
    parent_death_signal,
    release_memory,
    stop_with_parent,
)
from cxloop.ops.runtime import Runtime, WalReadiness

if TYPE_CHECKING:
    from cxloop.ops.controller import OpsController


def __getattr__(name: str) -> object:
    # The routes, and Litestar with them, load only where an app is built: the supervisor
    # and the pipeline log and count without ~20 MB of web framework.
    if name == "OpsController":
        from cxloop.ops.controller import OpsController

        return OpsController
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACK_LATENCY_BUCKETS",
    "DUCKDB_MEMORY_LIMIT",
    "Counter",
    "Gauge",
    "GcWatch",
    "Histogram",
    "OpsController",
    "Registry",
    "Runtime",
    "WalReadiness",
    "configure_logging",
    "duckdb_config",
    "duckdb_connect",
    "freeze_startup_objects",
    "merge_snapshots",
    "parent_death_signal",
    "read_snapshots",
    "release_memory",
    "render",
    "stop_with_parent",
    "watch_loop_lag",
    "write_snapshot_bytes",
]
