"""The audit log's answer."""

from __future__ import annotations

import msgspec

from cxloop.access import AuditEntry

__all__ = ["AuditPage"]


class AuditPage(msgspec.Struct):
    """Entries newest first; ``next_cursor`` fetches the older ones (None on the last page)."""

    entries: list[AuditEntry]
    next_cursor: str | None
