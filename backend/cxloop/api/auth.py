"""Who may call the private API: credentials → :class:`cxloop.access.Principal` → permission.

Every handler under the private router declares the one permission it needs
(``@get("/v1/x", permission="x:read")``); :func:`authorize`, the router's guard, resolves the
caller before any dependency runs and refuses with 401 (no or unknown credential) or 403
(``forbidden``, naming the missing permission). Handlers then ask for ``project_id``,
``principal`` or ``audit`` by name.

Credentials: ``Authorization: Bearer <project secret key>`` (an admin), later personal tokens
and session cookies (see docs/access.md).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from cxloop.access import SECRET_KEY_ROLE, Principal, role_permissions
from cxloop.api.errors import ApiError, database_unavailable
from cxloop.projects import hash_secret_key, project_for_secret_key

if TYPE_CHECKING:
    from cxloop.db import Pool, ResilientPool

__all__ = [
    "DATABASE_STATE_KEY",
    "PRINCIPAL_STATE_KEY",
    "PROJECT_AUTH_STATE_KEY",
    "ProjectAuth",
    "authorize",
    "connection_pool",
    "principal_of",
    "project_id_of",
    "required_permission",
]

# Where the lifespan leaves the database (a ResilientPool) and the auth cache in app.state.
DATABASE_STATE_KEY = "database"
PROJECT_AUTH_STATE_KEY = "project_auth"
# Where authorize() leaves the caller in the request's state.
PRINCIPAL_STATE_KEY = "cxloop_principal"
_CACHE_S = 10.0


class ProjectAuth:
    """Resolves secret keys to projects, remembering answers briefly (by the key's hash)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, float]] = {}

    async def project_id(self, pool: Pool, secret_key: str) -> str | None:
        digest = hash_secret_key(secret_key)
        hit = self._known.get(digest)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        async with pool.acquire() as conn:
            project_id = await project_for_secret_key(conn, secret_key)
        if project_id is not None:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[digest] = (project_id, now + _CACHE_S)
        return project_id


def connection_pool(state: State) -> Pool:
    """The app's pool; 503 ``database_unavailable`` while PostgreSQL cannot be reached."""
    database: ResilientPool | None = state.get(DATABASE_STATE_KEY)
    pool = database.pool if database is not None else None
    if pool is None:
        raise database_unavailable()
    return pool


def required_permission(handler: BaseRouteHandler) -> str | None:
    """The permission a private handler declared (``permission=`` on its decorator)."""
    permission = handler.opt.get("permission")
    return permission if isinstance(permission, str) else None


async def _resolve(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    header = connection.headers.get("authorization", "")
    scheme, _, secret_key = header.partition(" ")
    if scheme.lower() != "bearer" or not secret_key.strip():
        raise ApiError(
            401,
            "missing_secret_key",
            "send the project's secret key as 'Authorization: Bearer <secret key>' "
            "(cxloop projects create prints it)",
        )
    auth: ProjectAuth = connection.app.state[PROJECT_AUTH_STATE_KEY]
    secret_key = secret_key.strip()
    project_id = await auth.project_id(connection_pool(connection.app.state), secret_key)
    if project_id is None:
        raise ApiError(
            401,
            "invalid_secret_key",
            "unknown secret key: check the key (the write key does not work here)",
        )
    return Principal(
        project_id=project_id,
        kind="secret_key",
        label=f"secret key {secret_key[:11]}…",
        permissions=role_permissions(SECRET_KEY_ROLE),
        role=SECRET_KEY_ROLE,
    )


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The private router's guard: 401 without a valid credential, 403 without the permission."""
    principal = await _resolve(connection)
    permission = required_permission(handler)
    if permission is None:  # fail closed: a route that forgot to declare one serves nobody
        raise ApiError(403, "forbidden", "this route declares no permission; nobody may call it")
    if not principal.allows(permission):
        raise ApiError(
            403,
            "forbidden",
            f"this needs the '{permission}' permission, which {principal.label} "
            f"(role {principal.role or 'none'}) does not have: ask an owner or admin",
            permission=permission,
        )
    connection.state[PRINCIPAL_STATE_KEY] = principal


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The caller :func:`authorize` resolved for this request (a dependency: ``principal``)."""
    principal: Principal = request.state[PRINCIPAL_STATE_KEY]
    return principal


def project_id_of(request: Request[Any, Any, Any]) -> str:
    """The project of the request's credential (a dependency: ``project_id``)."""
    return principal_of(request).project_id
