"""PostgreSQL: the embedded server, the connection pool and the migrations."""

from cxloop.db.connection import ResilientPool
from cxloop.db.embedded import EmbeddedPostgresError, database_url_for, embedded_postgres
from cxloop.db.migrate import (
    Migration,
    MigrationError,
    apply_migrations,
    discover_migrations,
    migrations_dir,
    pending_migrations,
)
from cxloop.db.pool import Connection, Pool, create_pool, register_json_codecs

__all__ = [
    "Connection",
    "EmbeddedPostgresError",
    "Migration",
    "MigrationError",
    "Pool",
    "ResilientPool",
    "apply_migrations",
    "create_pool",
    "database_url_for",
    "discover_migrations",
    "embedded_postgres",
    "migrations_dir",
    "pending_migrations",
    "register_json_codecs",
]
