"""Who may call the private API: credentials → :class:`cxloop.access.Principal` → permission.

Every handler under the private router declares the one permission it needs
(``@get("/v1/x", permission="x:read")``); :func:`authorize`, the router's guard, resolves the
caller before any dependency runs and refuses with 401 (no or unknown credential) or 403
(``forbidden``, naming the missing permission). Handlers then ask for ``project_id``,
``principal`` or ``audit`` by name.

Credentials (docs/access.md, "Signing in"), the first that is present wins:

* ``Authorization: Bearer sk_…``: the project's secret key, an admin (cached 10 s by hash, so a
  revoked key stops working within 10 s);
* ``Authorization: Bearer cxp_…``: a person's API token, with its scopes within their role;
* the ``cxloop_session`` cookie: a person signed in to the console, for the project named by
  ``X-Cxloop-Project`` (or their only one); a request that is not GET/HEAD/OPTIONS must carry
  the session's ``X-CSRF-Token`` (Bearer credentials need none: browsers never add them).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from cxloop.access import (
    SECRET_KEY_ROLE,
    ConsoleUser,
    Principal,
    csrf_matches,
    member_role,
    projects_of,
    role_permissions,
    session_user,
    token_principal,
)
from cxloop.api.errors import ApiError, database_unavailable
from cxloop.projects import hash_secret_key, project_for_secret_key
from cxloop.settings import Settings

if TYPE_CHECKING:
    from cxloop.db import Connection, Pool, ResilientPool

__all__ = [
    "CSRF_HEADER",
    "DATABASE_STATE_KEY",
    "PRINCIPAL_STATE_KEY",
    "PROJECT_AUTH_STATE_KEY",
    "PROJECT_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "SETTINGS_STATE_KEY",
    "ProjectAuth",
    "app_settings",
    "authorize",
    "client_address",
    "connection_pool",
    "principal_of",
    "project_id_of",
    "request_is_tls",
    "required_permission",
    "session_principal",
]

# Where the lifespan leaves the database (a ResilientPool) and the auth cache in app.state.
DATABASE_STATE_KEY = "database"
PROJECT_AUTH_STATE_KEY = "project_auth"
SETTINGS_STATE_KEY = "settings"
# Where authorize() leaves the caller in the request's state.
PRINCIPAL_STATE_KEY = "cxloop_principal"
_CACHE_S = 10.0

SESSION_COOKIE = "cxloop_session"
CSRF_HEADER = "x-csrf-token"
PROJECT_HEADER = "x-cxloop-project"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_PREFIX = "cxp_"  # noqa: S105 (a prefix, not a secret)
_CREDENTIALS_HELP = (
    "send 'Authorization: Bearer <secret key or API token>' (cxloop projects create prints "
    "the secret key; POST /v1/tokens makes a token), or sign in with POST /v1/session"
)


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


def app_settings(state: State) -> Settings:
    """The app's settings (the defaults in an app built without them, as some tests do)."""
    settings: Settings | None = state.get(SETTINGS_STATE_KEY)
    return settings if settings is not None else Settings()


def client_address(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> str | None:
    """The client's address as ingest sees it: the socket's peer, or the last
    ``X-Forwarded-For`` entry (the one your proxy appended) with CXLOOP_TRUST_FORWARDED_FOR."""
    if settings.trust_forwarded_for:
        last = connection.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
        if last:
            return last
    return connection.client.host if connection.client is not None else None


def request_is_tls(scheme: str, forwarded_proto: str | None, settings: Settings) -> bool:
    """Whether the browser reached us over TLS (the session cookie is then ``Secure``): the
    request's scheme, ``X-Forwarded-Proto`` behind a trusted proxy, or an https public URL."""
    if settings.public_origin.startswith("https://") or scheme == "https":
        return True
    if settings.trust_forwarded_for and forwarded_proto:
        return forwarded_proto.split(",")[0].strip().lower() == "https"
    return False


async def _secret_key_principal(
    connection: ASGIConnection[Any, Any, Any, Any], secret_key: str
) -> Principal:
    auth: ProjectAuth = connection.app.state[PROJECT_AUTH_STATE_KEY]
    project_id = await auth.project_id(connection_pool(connection.app.state), secret_key)
    if project_id is None:
        raise ApiError(
            401,
            "invalid_secret_key",
            "unknown secret key: check the key (the write key does not work here; a rotated "
            "key stops working when its grace period ends)",
        )
    return Principal(
        project_id=project_id,
        kind="secret_key",
        label=f"secret key {secret_key[:11]}…",
        permissions=role_permissions(SECRET_KEY_ROLE),
        role=SECRET_KEY_ROLE,
    )


async def _token_principal(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Principal:
    async with connection_pool(connection.app.state).acquire() as conn:
        principal = await token_principal(conn, token)
    if principal is None:
        raise ApiError(
            401,
            "invalid_token",
            "unknown, expired or revoked API token, or its person is no longer a member: "
            "make a new one (POST /v1/tokens or cxloop tokens create)",
        )
    return principal


async def session_principal(
    conn: Connection, user: ConsoleUser, requested_project: str | None
) -> Principal:
    """A signed-in person as the caller for one project: the one asked for (a member of it),
    else their only one; 400 ``project_required`` / 403 ``not_a_member`` otherwise."""
    if requested_project:
        project_id = requested_project.strip()
        role = await member_role(conn, project_id, user.id)
        if role is None:
            raise ApiError(
                403,
                "not_a_member",
                f"{user.email} is not a member of project {project_id[:40]}: pick one of "
                "yours (GET /v1/session lists them) in X-Cxloop-Project",
            )
    else:
        projects = await projects_of(conn, user.id)
        if not projects:
            raise ApiError(
                403,
                "not_a_member",
                f"{user.email} is not a member of any project yet: ask an owner to add you",
            )
        if len(projects) != 1:
            listed = ", ".join(project for project, _ in projects)
            raise ApiError(
                400,
                "project_required",
                f"{user.email} belongs to {len(projects)} projects ({listed}): name one in the "
                "X-Cxloop-Project header",
            )
        project_id, role = projects[0]
    return Principal(
        project_id=project_id,
        kind="member",
        label=user.email,
        actor_id=user.id,
        user_id=user.id,
        role=role,
        permissions=role_permissions(role),
        session=True,
    )


async def _cookie_principal(
    connection: ASGIConnection[Any, Any, Any, Any], cookie_value: str
) -> Principal:
    settings = app_settings(connection.app.state)
    async with connection_pool(connection.app.state).acquire() as conn:
        user = await session_user(conn, cookie_value, idle_s=settings.session_idle_s)
        if user is None:
            raise ApiError(
                401,
                "invalid_session",
                "your console session has ended (signed out, expired or idle): sign in again "
                "with POST /v1/session",
            )
        # CSRF before the project: a forged request learns nothing, not even a project list.
        if connection.scope.get("method", "GET") not in SAFE_METHODS and not csrf_matches(
            cookie_value, connection.headers.get(CSRF_HEADER)
        ):
            raise ApiError(
                403,
                "csrf_failed",
                "a request made with a session cookie must carry the session's CSRF token in "
                "X-CSRF-Token (GET /v1/session answers it as csrf_token)",
            )
        return await session_principal(conn, user, connection.headers.get(PROJECT_HEADER))


async def _resolve(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    # The Bearer header wins over a cookie; nothing at all is refused before any database use.
    header = connection.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential:
        if credential.startswith(TOKEN_PREFIX):
            return await _token_principal(connection, credential)
        return await _secret_key_principal(connection, credential)
    cookie_value = connection.cookies.get(SESSION_COOKIE)
    if cookie_value:
        return await _cookie_principal(connection, cookie_value)
    raise ApiError(401, "missing_secret_key", f"no credential: {_CREDENTIALS_HELP}")


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
