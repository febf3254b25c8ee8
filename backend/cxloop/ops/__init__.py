"""Operations: metrics shared across processes, health and readiness."""

from cxloop.ops.metrics import (
    Counter,
    Gauge,
    Histogram,
    Registry,
    merge_snapshots,
    read_snapshots,
    render,
)

__all__ = [
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
    "merge_snapshots",
    "read_snapshots",
    "render",
]
