"""The audit log: who (member, token, key, CLI) did what to which object, when, from where.

An entry is written on the caller's connection, so inside the handler's transaction it
commits or rolls back with the change it records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from cxloop.access.principal import ActorKind, Principal
from cxloop.db import Connection

__all__ = ["AuditEntry", "list_audit", "record_audit"]

INSERT_AUDIT = """
INSERT INTO audit_log (project_id, actor_kind, actor_id, actor_label, action, object_type,
                       object_id, details, address, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9, $10)
"""
SELECT_AUDIT = """
SELECT id, at, actor_kind, actor_id, actor_label, action, object_type, object_id,
       details::text AS details, address, request_id
FROM audit_log
WHERE project_id = $1
  AND ($2::bigint IS NULL OR id < $2)
  AND ($3::text IS NULL OR action = $3 OR action LIKE $3 || '.%')
  AND ($4::text IS NULL OR object_type = $4)
  AND ($5::text IS NULL OR object_id = $5)
  AND ($6::text IS NULL OR actor_id = $6 OR actor_label = $6)
  AND ($8::text IS NULL
       OR (object_type = 'account' AND object_id = $8)
       OR (object_type = 'alert' AND object_id IN (
               SELECT id::text FROM alerts WHERE project_id = $1 AND account_id = $8)))
ORDER BY id DESC
LIMIT $7
"""

_encode = msgspec.json.Encoder().encode


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the audit log (``GET /v1/audit``)."""

    id: int
    at: datetime
    actor_kind: ActorKind
    actor_id: str | None
    actor_label: str
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
    address: str | None
    request_id: str | None


async def record_audit(
    conn: Connection,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    *,
    address: str | None = None,
    request_id: str | None = None,
) -> None:
    """Append one entry; ``address`` must already be anonymised (``anonymize_ip``)."""
    await conn.execute(
        INSERT_AUDIT,
        principal.project_id,
        principal.kind,
        principal.actor_id,
        principal.label,
        action,
        object_type,
        object_id,
        _encode(dict(details or {})).decode(),
        address,
        request_id,
    )


async def list_audit(
    conn: Connection,
    project_id: str,
    *,
    before_id: int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    account_id: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; ``action`` matches exactly or as a prefix (``survey`` → ``survey.*``);
    ``account_id``: entries about the account itself and about its alerts."""
    rows = await conn.fetch(
        SELECT_AUDIT, project_id, before_id, action, object_type, object_id, actor, limit,
        account_id,
    )  # fmt: skip
    return [
        AuditEntry(
            id=row["id"],
            at=row["at"],
            actor_kind=row["actor_kind"],
            actor_id=row["actor_id"],
            actor_label=row["actor_label"],
            action=row["action"],
            object_type=row["object_type"],
            object_id=row["object_id"],
            details=msgspec.json.decode(row["details"]),
            address=row["address"],
            request_id=row["request_id"],
        )
        for row in rows
    ]
