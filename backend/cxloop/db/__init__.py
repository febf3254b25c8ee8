"""PostgreSQL: the embedded server, the pools, the migrations, PostgreSQL-safe text, and the
database options every command shares."""

from typing import TYPE_CHECKING

from cxloop.db.cli import (
    database_options,
    default_help,
    migrate_command,
    redact_url,
    report_migrations,
    run_with_database,
    setting_option,
)
from cxloop.db.embedded import EmbeddedPostgresError, database_url_for, embedded_postgres
from cxloop.db.migrate import (
    Migration,
    MigrationError,
    apply_migrations,
    discover_migrations,
    migrations_dir,
    pending_migrations,
)
from cxloop.db.text import pg_json, pg_json_numbers, pg_text, pg_text_or_none
from cxloop.lazy import lazy_exports

if TYPE_CHECKING:
    from cxloop.db.connection import ResilientPool
    from cxloop.db.pool import Connection, Pool, create_pool, register_json_codecs

# The pools, and asyncpg and asyncio with them, load on first use: ``cxloop serve``'s
# supervisor starts the embedded server and reads the options without them.
__getattr__ = lazy_exports(
    __name__,
    {
        "ResilientPool": "cxloop.db.connection",
        "Connection": "cxloop.db.pool",
        "Pool": "cxloop.db.pool",
        "create_pool": "cxloop.db.pool",
        "register_json_codecs": "cxloop.db.pool",
    },
)


__all__ = [
    "Connection",
    "EmbeddedPostgresError",
    "Migration",
    "MigrationError",
    "Pool",
    "ResilientPool",
    "apply_migrations",
    "create_pool",
    "database_options",
    "database_url_for",
    "default_help",
    "discover_migrations",
    "embedded_postgres",
    "migrate_command",
    "migrations_dir",
    "pending_migrations",
    "pg_json",
    "pg_json_numbers",
    "pg_text",
    "pg_text_or_none",
    "redact_url",
    "register_json_codecs",
    "report_migrations",
    "run_with_database",
    "setting_option",
]
