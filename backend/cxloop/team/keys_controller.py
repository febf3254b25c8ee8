"""``/v1/keys``: the project's keys, their rotation with a grace period, and revocation.

A rotated key keeps working for the grace period, then is refused (401). Other workers learn
of a rotation or a revocation within ``CXLOOP_KEY_REFRESH_S`` (write keys) or 10 s (secret
keys, cached by hash). The audit log records prefixes only, never a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from cxloop.api import ApiError, Audit, Db, ProjectId, Transaction, found
from cxloop.projects import (
    KeyKind,
    KeyRotation,
    ProjectKeys,
    project_keys,
    revoke_retired_keys,
    rotate_key,
)
from cxloop.team.keys_schemas import RevokedKeys, RotateInput

if TYPE_CHECKING:
    from cxloop.db import Connection
    from cxloop.settings import Settings

__all__ = ["KeysController"]

_NO_PROJECT = ApiError(404, "project_not_found", "this project no longer exists")


async def _rotate(
    conn: Connection,
    audit: Audit,
    project_id: str,
    kind: KeyKind,
    data: RotateInput | None,
    settings: Settings,
) -> KeyRotation:
    grace_s = settings.key_rotation_grace_s
    if data is not None and data.grace_seconds is not None:
        grace_s = data.grace_seconds
    rotation = found(await rotate_key(conn, project_id, kind, grace_s=grace_s), _NO_PROJECT)
    await audit.record(
        conn,
        "key.rotated",
        "key",
        kind,
        rotation.audit_details(grace_s),
    )
    return rotation


class KeysController(Controller):
    path = "/v1/keys"
    tags = ["keys"]

    @get(
        "/",
        permission="keys:read",
        summary="The write key, the secret key's prefix, and the keys rotations retired.",
    )
    async def list_keys(self, project_id: ProjectId, db: Db) -> ProjectKeys:
        return found(await project_keys(db, project_id), _NO_PROJECT)

    @post(
        "/secret/rotate",
        permission="keys:write",
        status_code=200,
        summary="Make a new secret key (shown once); the old one works for the grace period.",
    )
    async def rotate_secret_key(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        settings: NamedDependency[Settings],
        data: JSONBody[RotateInput | None] = None,
    ) -> KeyRotation:
        return await _rotate(transaction, audit, project_id, "secret", data, settings)

    @post(
        "/write/rotate",
        permission="keys:write",
        status_code=200,
        summary="Make a new write key; the old one keeps ingesting for the grace period.",
    )
    async def rotate_write_key(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        settings: NamedDependency[Settings],
        data: JSONBody[RotateInput | None] = None,
    ) -> KeyRotation:
        return await _rotate(transaction, audit, project_id, "write", data, settings)

    @post(
        "/{kind:str}/revoke-retired",
        permission="keys:write",
        status_code=200,
        summary="End the grace period of every retired key of this kind now.",
    )
    async def revoke_retired_keys(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        kind: FromPath[Literal["secret", "write"]],
    ) -> RevokedKeys:
        revoked = await revoke_retired_keys(transaction, project_id, kind)
        await audit.record(transaction, "key.revoked", "key", kind, {"kind": kind, "keys": revoked})
        return RevokedKeys(kind=kind, revoked=revoked)
