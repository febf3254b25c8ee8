"""Operations: metrics shared across processes, process lifetime and logging, GC and
event-loop watches, and the liveness, readiness and metrics routes."""

from typing import TYPE_CHECKING

from cxloop.lazy import lazy_exports
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
from cxloop.ops.process import (
    configure_logging,
    parent_death_signal,
    release_memory,
    stop_with_parent,
)

if TYPE_CHECKING:
    from cxloop.ops.controller import OpsController
    from cxloop.ops.pauses import GcWatch, freeze_startup_objects, watch_loop_lag
    from cxloop.ops.runtime import Runtime, WalReadiness

# Loaded on first use: the routes (and Litestar with them) only where an app is built, the
# serving runtime (asyncio, the database pool and asyncpg) and the event-loop watches only
# where a loop runs. The supervisor, which logs and waits on its children, loads none of them.
__getattr__ = lazy_exports(
    __name__,
    {
        "OpsController": "cxloop.ops.controller",
        "GcWatch": "cxloop.ops.pauses",
        "freeze_startup_objects": "cxloop.ops.pauses",
        "watch_loop_lag": "cxloop.ops.pauses",
        "Runtime": "cxloop.ops.runtime",
        "WalReadiness": "cxloop.ops.runtime",
    },
)


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
