"""Retention: events older than a project's ``retention_days`` leave the lake."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cxloop.db import ResilientPool
    from cxloop.ops import Registry
    from cxloop.settings import Settings

__all__ = ["RetentionSweep"]


class RetentionSweep:
    """SKELETON (helper H5 fills it in): ``step`` removes expired lake partitions (and, unless
    ``keep_rollups``, their rollups), at most once per interval; returns partitions removed."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry

    async def step(self, database: ResilientPool) -> int:
        return 0
