"""What a running ingest worker holds: WAL writer, database pool, key cache, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cxloop.db.connection import ResilientPool
from cxloop.ops.metrics import Registry
from cxloop.wal import WalWriter

__all__ = ["Runtime"]


@dataclass
class Runtime:
    registry: Registry
    writer: WalWriter
    database: ResilientPool
    metrics_dir: Path
    process_name: str

    def write_metrics_snapshot(self) -> None:
        self.registry.write_snapshot(self.metrics_dir / f"{self.process_name}.json")
