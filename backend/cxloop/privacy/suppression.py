"""The pipeline's second line of suppression: events of deleted subjects never reach the lake."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from cxloop.db import ResilientPool
    from cxloop.ops import Registry
    from cxloop.settings import Settings

__all__ = ["SuppressionFilter"]

Expand = Callable[..., pa.Table]


class SuppressionFilter:
    """Drops, from expanded WAL rows, the events of subjects listed in privacy_suppressions.

    SKELETON (helper H5 fills it in): ``refresh`` reloads the digests; ``wrap`` returns an
    ``expand`` that filters what the given one returns and counts what it dropped.
    """

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry

    async def refresh(self, database: ResilientPool) -> None:
        return None

    def wrap(self, expand: Expand) -> Expand:
        return expand

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SuppressionFilter({self.settings.data_dir!s})"
