"""The pipeline's second line of suppression: events of deleted subjects never reach the lake.

Ingest refuses a deleted subject's events, but some are already in the WAL (acked before the
request, logged by a worker that had not refreshed yet, or replayed from an old segment). The
pipeline's ``expand`` is wrapped so rows naming a suppressed subject are dropped before dedupe
claims them: valid rows by their id columns, failed rows (whose ids were never parsed) by the
ids in their ``raw`` text.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc

from cxloop.projects import SuppressionList

if TYPE_CHECKING:
    from cxloop.db import ResilientPool
    from cxloop.ops import Registry
    from cxloop.settings import Settings
    from cxloop.wal import SegmentReadResult

__all__ = ["SuppressionFilter"]

log = logging.getLogger("cxloop.privacy")

Expand = Callable[["SegmentReadResult"], pa.Table]
_ID_COLUMNS = ("project_id", "user_id", "anonymous_id", "group_id", "previous_id", "raw")


class SuppressionFilter:
    """Drops, from expanded WAL rows, the events of subjects listed in privacy_suppressions.

    ``refresh`` reloads the digests (at most every ``key_refresh_s``; the last list is kept
    while PostgreSQL is down, and the state file is read at start); ``wrap`` returns an
    ``expand`` that filters what the given one returns and counts what it dropped.
    """

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.suppressions = SuppressionList(settings.state_dir / "suppressions.json")
        self._last_refresh = -float("inf")
        self._dropped: Counter[str] = Counter()
        self._lock = threading.Lock()  # expand runs on the index thread, readers elsewhere
        self.counter = registry.counter(
            "cxloop_pipeline_suppressed_events_total",
            "Events of deleted subjects dropped by the pipeline before the lake.",
        )

    async def refresh(self, database: ResilientPool) -> None:
        if time.monotonic() - self._last_refresh < self.settings.key_refresh_s:
            return
        if database.pool is None:
            return  # the list loaded from the state file (or the last refresh) stays
        try:
            await self.suppressions.refresh(database.pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot refresh suppressed subjects (%s); keeping the last list", exc)
            return
        self._last_refresh = time.monotonic()

    def dropped(self, project_id: str) -> int:
        """Events of the project's suppressed subjects dropped since this process started."""
        with self._lock:
            return self._dropped[project_id]

    def wrap(self, expand: Expand) -> Expand:
        def filtered(read: SegmentReadResult) -> pa.Table:
            return self.filter(expand(read))

        return filtered

    def filter(self, table: pa.Table) -> pa.Table:
        """``table`` (WAL schema) without the rows of suppressed subjects."""
        suppressions = self.suppressions
        if table.num_rows == 0 or not len(suppressions):
            return table
        projects = pc.unique(table.column("project_id")).to_pylist()
        if not any(suppressions.active(project) for project in projects):
            return table
        keep: list[bool] = []
        dropped: Counter[str] = Counter()
        columns = [table.column(name).to_pylist() for name in _ID_COLUMNS]
        for project, user, anonymous, group, previous, raw in zip(*columns, strict=True):
            if not suppressions.active(project):
                keep.append(True)
                continue
            named = suppressions.matches(project, user, anonymous, group, previous) or (
                raw is not None and suppressions.matches_raw(project, raw)
            )
            keep.append(not named)
            if named:
                dropped[project] += 1
        if not dropped:
            return table
        with self._lock:
            self._dropped.update(dropped)
        self.counter.inc(sum(dropped.values()))
        return table.filter(pa.array(keep, type=pa.bool_()))

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SuppressionFilter({self.settings.data_dir!s})"
