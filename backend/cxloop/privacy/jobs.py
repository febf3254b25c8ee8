"""Deletion jobs, run by the pipeline: PostgreSQL, lake files, rollups, WAL — with a receipt."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cxloop.db import ResilientPool
    from cxloop.ops import Registry
    from cxloop.settings import Settings

__all__ = ["DeletionJobs"]


class DeletionJobs:
    """SKELETON (helper H4 fills it in): ``step`` advances queued/running deletion requests,
    bounded in time per call so compaction and projection keep their turn; returns how many
    requests it advanced (0: nothing to do)."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry

    async def step(self, database: ResilientPool) -> int:
        return 0
