"""Schema migrations: plain numbered SQL files (``NNNN_name.sql``) applied in order, once each.

Every migration runs in its own transaction together with its ``schema_migrations`` row (so a
file cannot use statements that refuse to run in one, such as CREATE INDEX CONCURRENTLY), under
a transaction-scoped advisory lock, so two processes starting at the same moment apply each
file exactly once (the second waits, then finds nothing left to do). Transaction-scoped locks
are also safe behind a transaction-pooling proxy such as PgBouncer, unlike session locks.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

import cxloop

if TYPE_CHECKING:
    from cxloop.db.pool import Connection

__all__ = [
    "Migration",
    "MigrationError",
    "apply_migrations",
    "discover_migrations",
    "migrations_dir",
    "pending_migrations",
]

log = logging.getLogger("cxloop.db")

# Any fixed 64-bit number works; this one spells "cxloop" in ASCII.
MIGRATION_LOCK_KEY = 0x63786C6F6F70

_MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<label>[a-z0-9_]+)\.sql$")

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
LOCK_MIGRATIONS = "SELECT pg_advisory_xact_lock($1)"
MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"
APPLIED_VERSIONS = "SELECT version FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"


class MigrationError(RuntimeError):
    """The migration files are inconsistent, or one of them failed to apply."""


class Migration(msgspec.Struct, frozen=True):
    """One ``NNNN_label.sql`` file; ``name`` is the file name without ``.sql``."""

    version: int
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def migrations_dir() -> Path:
    """``cxloop/_migrations`` in an installed wheel, else the repository's ``migrations/``."""
    package_dir = Path(cxloop.__file__).resolve().parent
    packaged = package_dir / "_migrations"
    if packaged.is_dir():
        return packaged
    return package_dir.parent.parent / "migrations"


def discover_migrations(directory: Path | None = None) -> list[Migration]:
    """All migration files in ``directory`` (default :func:`migrations_dir`), by version."""
    directory = migrations_dir() if directory is None else directory
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files must be named NNNN_lowercase_name.sql"
            )
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(
                f"{path.name} and {migrations[version].path.name} share version {version}"
            )
        migrations[version] = Migration(version=version, name=path.stem, path=path)
    return [migrations[version] for version in sorted(migrations)]


async def _applied_versions(conn: Connection) -> set[int]:
    if not await conn.fetchval(MIGRATIONS_TABLE_EXISTS):
        return set()
    return {row["version"] for row in await conn.fetch(APPLIED_VERSIONS)}


async def pending_migrations(conn: Connection, directory: Path | None = None) -> list[str]:
    """Names of the migrations not yet applied to the database, in the order they would run."""
    applied = await _applied_versions(conn)
    return [m.name for m in discover_migrations(directory) if m.version not in applied]


async def apply_migrations(conn: Connection, directory: Path | None = None) -> list[str]:
    """Apply every pending migration, each in its own transaction; return the names applied.

    Safe to call from several processes at once: each transaction first takes the advisory
    lock, then re-reads what is applied, so a migration is never run twice.
    """
    import asyncpg

    migrations = discover_migrations(directory)
    applied_names: list[str] = []
    while True:
        async with conn.transaction():
            await conn.execute(LOCK_MIGRATIONS, MIGRATION_LOCK_KEY)
            await conn.execute(CREATE_MIGRATIONS_TABLE)
            applied = await _applied_versions(conn)
            pending = [m for m in migrations if m.version not in applied]
            if not pending:
                break
            migration = pending[0]
            try:
                await conn.execute(migration.sql())
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            await conn.execute(RECORD_MIGRATION, migration.version, migration.name)
        # The caller reports what was applied (the names are returned), once, its own way.
        log.debug("applied migration %s", migration.name)
        applied_names.append(migration.name)
    unknown = applied - {m.version for m in migrations}
    if unknown:
        log.warning(
            "the database has migrations this cxloop version does not know (%s); "
            "is an older cxloop running against a newer database?",
            ", ".join(str(v) for v in sorted(unknown)),
        )
    return applied_names
