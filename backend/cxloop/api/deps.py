"""What handlers are given: Litestar ``Provide`` callables, declared once per layer.

A private route (behind a credential: secret key, API token or session) is a handler under the router that carries
:data:`PRIVATE_DEPENDENCIES`; it asks for what it needs by name::

    async def read(self, project_id: NamedDependency[str], db: NamedDependency[Connection]) -> X

* ``project_id``: the project of the caller's credential; the router's guard
  (:func:`cxloop.api.auth.authorize`) has already refused a missing or unknown one (401) and
  one without the handler's declared ``permission`` (403);
* ``principal``: the caller (:class:`cxloop.access.Principal`): who, which role, which permissions;
* ``audit``: an :class:`cxloop.api.audit_trail.AuditTrail` bound to the caller, their
  (anonymised) address and the request id — every state-changing handler records what it did;
* ``db``: a pooled connection, taken only once the key is checked and given back after the
  answer is encoded (503 ``database_unavailable`` when PostgreSQL is down);
* ``transaction``: instead of ``db``, a pooled connection inside a transaction, committed
  after the answer is encoded and rolled back when the handler raises;
* ``page``: the page a list route is asked for (``limit`` ≤ 1000, ``cursor``), see
  :class:`cxloop.api.pagination.PageRequest`;
* ``settings``, ``write_keys``: the app's settings and write-key resolver (from the lifespan).

Public routes get the same names from :data:`PUBLIC_DEPENDENCIES`, without ``project_id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

from litestar import Router
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.types import ControllerRouterHandler

from cxloop.api.audit_trail import AuditTrail, provide_audit
from cxloop.api.auth import (
    DATABASE_STATE_KEY,
    SETTINGS_STATE_KEY,
    authorize,
    connection_pool,
    principal_of,
    project_id_of,
)
from cxloop.api.pagination import PageRequest, provide_page
from cxloop.projects import WRITE_KEYS_STATE_KEY

if TYPE_CHECKING:
    from cxloop.access import Principal
    from cxloop.db import Connection
    from cxloop.projects import KeyResolver
    from cxloop.settings import Settings

__all__ = [
    "DATABASE_STATE_KEY",
    "PRIVATE_DEPENDENCIES",
    "PUBLIC_DEPENDENCIES",
    "SETTINGS_STATE_KEY",
    "SIGNATURE_NAMESPACE",
    "WRITE_KEYS_STATE_KEY",
    "Audit",
    "Db",
    "Page",
    "PrincipalDep",
    "ProjectId",
    "Transaction",
    "private_router",
    "provide_connection",
    "provide_project_connection",
    "provide_project_transaction",
    "provide_settings",
    "provide_transaction",
    "provide_write_keys",
    "public_router",
]


def provide_settings(state: State) -> Settings:
    settings: Settings = state[SETTINGS_STATE_KEY]
    return settings


def provide_write_keys(state: State) -> KeyResolver:
    """Write key → project: from memory, else PostgreSQL (what ingest uses too)."""
    keys: KeyResolver = state[WRITE_KEYS_STATE_KEY]
    return keys


@asynccontextmanager
async def _acquire(state: State, *, transaction: bool = False) -> AsyncIterator[Connection]:
    async with connection_pool(state).acquire() as connection:
        if not transaction:
            yield connection
            return
        async with connection.transaction():
            yield connection


# Each provider takes its own connection rather than building on another provider: Litestar
# closes generator dependencies concurrently, so a commit could race the connection's release.


async def provide_connection(state: State) -> AsyncIterator[Connection]:
    async with _acquire(state) as connection:
        yield connection


async def provide_transaction(state: State) -> AsyncIterator[Connection]:
    async with _acquire(state, transaction=True) as connection:
        yield connection


async def provide_project_connection(
    state: State, project_id: NamedDependency[str]
) -> AsyncIterator[Connection]:
    """``db`` of a private route: asked for after ``project_id``, so a refused key (401)
    takes no connection, and the 401 comes first while PostgreSQL is down."""
    async with _acquire(state) as connection:
        yield connection


async def provide_project_transaction(
    state: State, project_id: NamedDependency[str]
) -> AsyncIterator[Connection]:
    """``transaction`` of a private route: as ``db``, inside a transaction."""
    async with _acquire(state, transaction=True) as connection:
        yield connection


# What a handler asks for, by name (``project_id: ProjectId, db: Db``).
ProjectId: TypeAlias = NamedDependency[str]
Db: TypeAlias = NamedDependency["Connection"]
Transaction: TypeAlias = NamedDependency["Connection"]
Page: TypeAlias = NamedDependency[PageRequest]
PrincipalDep: TypeAlias = NamedDependency["Principal"]
Audit: TypeAlias = NamedDependency[AuditTrail]

# Names the handlers' annotations use only for mypy: Litestar resolves them from here.
SIGNATURE_NAMESPACE: dict[str, Any] = {
    "Connection": Any,
    "KeyResolver": Any,
    "Settings": Any,
    "DestinationPolicy": Any,
    "Principal": Any,
    "AuditTrail": AuditTrail,
}

_SHARED: dict[str, Any] = {
    SETTINGS_STATE_KEY: Provide(provide_settings, sync_to_thread=False),
    WRITE_KEYS_STATE_KEY: Provide(provide_write_keys, sync_to_thread=False),
}
PUBLIC_DEPENDENCIES: dict[str, Any] = {
    **_SHARED,
    "db": Provide(provide_connection),
    "transaction": Provide(provide_transaction),
}
PRIVATE_DEPENDENCIES: dict[str, Any] = {
    **_SHARED,
    "project_id": Provide(project_id_of, sync_to_thread=False),
    "principal": Provide(principal_of, sync_to_thread=False),
    "audit": Provide(provide_audit, sync_to_thread=False),
    "page": Provide(provide_page, sync_to_thread=False),
    "db": Provide(provide_project_connection),
    "transaction": Provide(provide_project_transaction),
}


def private_router(*handlers: ControllerRouterHandler) -> Router:
    """The layer every route behind a credential sits in; each handler declares its
    ``permission`` and the guard checks it before anything else runs."""
    return _layer(PRIVATE_DEPENDENCIES, handlers, guards=[authorize])


def public_router(*handlers: ControllerRouterHandler) -> Router:
    """The layer of the public routes (none, or the write key)."""
    return _layer(PUBLIC_DEPENDENCIES, handlers)


def _layer(
    dependencies: dict[str, Any],
    handlers: tuple[ControllerRouterHandler, ...],
    guards: list[Any] | None = None,
) -> Router:
    return Router(
        path="/",
        dependencies=dependencies,
        guards=guards,
        signature_namespace=SIGNATURE_NAMESPACE,
        route_handlers=list(handlers),
    )
