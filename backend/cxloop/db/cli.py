"""``cxloop migrate``, and the shared plumbing of every command that needs the database.

:func:`database_options` adds ``--data-dir`` and ``--database-url``; :func:`run_with_database`
turns them into a URL (starting the embedded PostgreSQL when there is none), applies pending
migrations and runs one unit of work on a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import click

from cxloop.db.embedded import EmbeddedPostgresError, database_url_for
from cxloop.db.migrate import MigrationError, apply_migrations
from cxloop.db.pool import Connection
from cxloop.settings import Settings, SettingsError

__all__ = ["database_options", "migrate_command", "redact_url", "run_with_database"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

CONNECT_TIMEOUT_S = 15.0


def database_options(command: F) -> F:
    """Add ``--data-dir`` and ``--database-url`` (defaults: the environment, see Settings)."""
    command = click.option(
        "--database-url",
        default=None,
        metavar="URL",
        help="PostgreSQL URL [default: DATABASE_URL, else the embedded server in the data dir]",
    )(command)
    command = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory [default: CXLOOP_DATA_DIR, else ./.cxloop]",
    )(command)
    return command


def redact_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def run_with_database(
    data_dir: Path | None,
    database_url: str | None,
    action: Callable[[Connection], Awaitable[T]],
    *,
    on_migrated: Callable[[list[str]], None],
) -> T:
    """Reach (or start) the database, apply pending migrations, then run ``action`` on it.

    ``on_migrated`` receives the names of the migrations just applied. Problems a user can fix
    (bad settings, unreachable server, failing migration) become :class:`click.ClickException`.
    """
    try:
        settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        with database_url_for(settings.database_url, settings.postgres_dir) as url:
            return asyncio.run(_migrate_then(url, action, on_migrated))
    except EmbeddedPostgresError as exc:
        raise click.ClickException(str(exc)) from exc
    except MigrationError as exc:
        raise click.ClickException(
            f"{exc}; the database was left at the last good migration"
        ) from exc


async def _migrate_then(
    url: str,
    action: Callable[[Connection], Awaitable[T]],
    on_migrated: Callable[[list[str]], None],
) -> T:
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise click.ClickException(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {exc}. "
            "Check --database-url / DATABASE_URL, or leave both unset to use the embedded server."
        ) from exc
    try:
        on_migrated(await apply_migrations(conn))
        return await action(conn)
    finally:
        await conn.close()


async def _nothing(conn: Connection) -> None:
    return None


@click.command("migrate")
@database_options
def migrate_command(data_dir: Path | None, database_url: str | None) -> None:
    """Apply pending database migrations."""

    def report(applied: list[str]) -> None:
        for name in applied:
            click.echo(f"applied {name}")
        if not applied:
            click.echo("database is up to date")

    run_with_database(data_dir, database_url, _nothing, on_migrated=report)
