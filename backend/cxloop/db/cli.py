"""``cxloop migrate``, and the shared plumbing of every command that needs the database.

:func:`setting_option` adds an option that overrides a setting, its help ending in the one
default style (``[default: CXLOOP_PORT, else 8000]``, :func:`default_help`); :func:`database_options` adds
``--data-dir`` and ``--database-url``; :func:`run_with_database` turns them into a URL (starting
the embedded PostgreSQL when there is none), applies pending migrations and runs one unit of
work on a connection. A setting that is not valid raises ``SettingsError``, which the root
command (``cxloop.cli``) turns into the same usage error for every command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click

from cxloop.db.embedded import EmbeddedPostgresError, database_url_for
from cxloop.db.migrate import MigrationError, apply_migrations
from cxloop.settings import Settings, default_text, env_name

if TYPE_CHECKING:
    from cxloop.db.pool import Connection

__all__ = [
    "database_options",
    "default_help",
    "migrate_command",
    "redact_url",
    "report_migrations",
    "run_with_database",
    "setting_option",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

CONNECT_TIMEOUT_S = 15.0

# What the embedded default means, where "unset" would not say it.
_UNSET_MEANS = {"database_url": "the embedded server in the data dir"}


def default_help(help: str, default: str) -> str:
    """``help`` ending in ``[default: …]`` as click writes it for a literal default, for a
    default that is not one value (click would put a described default in parentheses)."""
    return f"{help}  [default: {default}]"


def setting_option(*param_decls: str, field: str, help: str, **attrs: Any) -> Callable[[F], F]:
    """An option overriding the setting ``field``; unset, the environment or the default holds."""
    default = _UNSET_MEANS.get(field) or default_text(field)
    return click.option(
        *param_decls,
        default=None,
        help=default_help(help, f"{env_name(field)}, else {default}"),
        **attrs,
    )


def database_options(command: F) -> F:
    """Add ``--data-dir`` and ``--database-url`` (defaults: the environment, see Settings)."""
    command = setting_option(
        "--database-url", field="database_url", metavar="URL", help="PostgreSQL URL."
    )(command)
    command = setting_option(
        "--data-dir",
        field="data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory (WAL, lake, state, embedded database).",
    )(command)
    return command


def report_migrations(applied: list[str]) -> None:
    """Name each migration just applied, on stderr: stdout stays the command's own output."""
    for name in applied:
        click.echo(f"applied migration {name}", err=True)


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
    (unreachable server, failing migration) become :class:`click.ClickException`.
    """
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    try:
        with database_url_for(settings.database_url, settings.postgres_dir) as url:
            import asyncio

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
    import asyncpg

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
