"""What a running ingest worker holds: WAL writer, database pool, key cache, metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cxloop.ops.metrics import Registry, write_snapshot_bytes

if TYPE_CHECKING:
    from cxloop.db import ResilientPool

__all__ = ["Runtime", "WalReadiness"]


class WalReadiness(Protocol):
    """What readiness asks of the WAL writer (``cxloop.wal.WalWriter`` is one): the WAL
    sits above ops, since it counts into the metrics registry."""

    @property
    def not_ready_reason(self) -> str | None: ...


@dataclass
class Runtime:
    registry: Registry
    writer: WalReadiness
    database: ResilientPool
    metrics_dir: Path
    process_name: str
    # One publish at a time: ``GET /metrics`` publishes beside the once-a-second loop, and two
    # writes through the same temporary file race (one rename finds it gone: a 500).
    _publishing: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @property
    def metrics_file(self) -> Path:
        return self.metrics_dir / f"{self.process_name}.json"

    def write_metrics_snapshot(self) -> None:
        self.registry.write_snapshot(self.metrics_file)

    async def publish_metrics_snapshot(self) -> None:
        """The snapshot is taken on the event loop (the registry is not thread-safe); the
        file is written off it, so a slow rename (it waits for the filesystem journal) never
        holds the loop and the acks queued on it."""
        async with self._publishing:
            data = self.registry.snapshot_bytes()
            await asyncio.to_thread(write_snapshot_bytes, self.metrics_file, data)
