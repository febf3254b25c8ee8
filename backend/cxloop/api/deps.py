"""What handlers are given: Litestar ``Provide`` callables, declared once per layer.

A private route (behind the secret key) is a handler under the router that carries
:data:`PRIVATE_DEPENDENCIES`; it asks for what it needs by name::

    async def read(self, project_id: NamedDependency[str], db: NamedDependency[Connection]) -> X

* ``project_id``: the project of the ``Authorization: Bearer`` secret key (401 otherwise);
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

from cxloop.api.auth import DATABASE_STATE_KEY, connection_pool, project_id_of
from cxloop.api.pagination import PageRequest, provide_page
from cxloop.projects import WRITE_KEYS_STATE_KEY

if TYPE_CHECKING:
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
    "Db",
    "Page",
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

SETTINGS_STATE_KEY = "settings"


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

# Names the handlers' annotations use only for mypy: Litestar resolves them from here.
SIGNATURE_NAMESPACE: dict[str, Any] = {
    "Connection": Any,
    "KeyResolver": Any,
    "Settings": Any,
    "DestinationPolicy": Any,
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
    "project_id": Provide(project_id_of),
    "page": Provide(provide_page, sync_to_thread=False),
    "db": Provide(provide_project_connection),
    "transaction": Provide(provide_project_transaction),
}


def private_router(*handlers: ControllerRouterHandler) -> Router:
    """The layer every route behind the secret key sits in."""
    return _layer(PRIVATE_DEPENDENCIES, handlers)


def public_router(*handlers: ControllerRouterHandler) -> Router:
    """The layer of the public routes (none, or the write key)."""
    return _layer(PUBLIC_DEPENDENCIES, handlers)


def _layer(dependencies: dict[str, Any], handlers: tuple[ControllerRouterHandler, ...]) -> Router:
    return Router(
        path="/",
        dependencies=dependencies,
        signature_namespace=SIGNATURE_NAMESPACE,
        route_handlers=list(handlers),
    )
