"""Secret-key auth for the private API: ``Authorization: Bearer <secret key>``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.datastructures import State

from cxloop.api.errors import ApiError, database_unavailable
from cxloop.projects import hash_secret_key, project_for_secret_key

if TYPE_CHECKING:
    from cxloop.db import Pool, ResilientPool

__all__ = [
    "DATABASE_STATE_KEY",
    "PROJECT_AUTH_STATE_KEY",
    "ProjectAuth",
    "connection_pool",
    "project_id_of",
]

# Where the lifespan leaves the database (a ResilientPool) and the auth cache in app.state.
DATABASE_STATE_KEY = "database"
PROJECT_AUTH_STATE_KEY = "project_auth"
_CACHE_S = 60.0


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


async def project_id_of(request: Request[Any, Any, Any]) -> str:
    """The project of the request's secret key; 401 with what to do otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, secret_key = header.partition(" ")
    if scheme.lower() != "bearer" or not secret_key.strip():
        raise ApiError(
            401,
            "missing_secret_key",
            "send the project's secret key as 'Authorization: Bearer <secret key>' "
            "(cxloop projects create prints it)",
        )
    auth: ProjectAuth = request.app.state[PROJECT_AUTH_STATE_KEY]
    project_id = await auth.project_id(connection_pool(request.app.state), secret_key.strip())
    if project_id is None:
        raise ApiError(
            401,
            "invalid_secret_key",
            "unknown secret key: check the key (the write key does not work here)",
        )
    return project_id
