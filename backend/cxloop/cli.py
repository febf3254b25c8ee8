"""The ``cxloop`` command line."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from cxloop import __version__
from cxloop.db import redact_url, setting_option
from cxloop.settings import Settings, SettingsError, default_text, env_name, settings_table

__all__ = ["main"]


# The domain commands, imported only when one of them runs (or help lists them): `cxloop
# serve`'s supervisor, and every process it spawns (which re-import this module as their
# ``__main__``), would otherwise carry the whole API, DuckDB, numpy and pyarrow in memory.
_DOMAIN_COMMANDS = {
    "migrate": ("cxloop.db", "migrate_command"),
    "projects": ("cxloop.projects", "projects_group"),
    "surveys": ("cxloop.surveys", "surveys_group"),
    "score": ("cxloop.health", "score_command"),
    "insights": ("cxloop.insights", "insights_group"),
    "users": ("cxloop.team", "users_group"),
    "members": ("cxloop.team", "members_group"),
    "tokens": ("cxloop.team", "tokens_group"),
    "keys": ("cxloop.team", "keys_group"),
    "privacy": ("cxloop.privacy", "privacy_group"),
    "drain": ("cxloop.server", "drain_command"),
    "cluster": ("cxloop.server", "cluster_group"),
}


class _Cli(click.Group):
    """The root command: every command's settings problem ends the same way, here."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_DOMAIN_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _DOMAIN_COMMANDS and cmd_name not in self.commands:
            module, attribute = _DOMAIN_COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            # A usage error (exit 2, no traceback), whichever command met the setting.
            raise click.UsageError(str(exc)) from exc


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cxloop")
def cli() -> None:
    """cxloop: Segment-compatible ingest, in-app ratings and account health.

    Settings come from CXLOOP_* environment variables and DATABASE_URL (`cxloop settings`
    lists them); without DATABASE_URL an embedded PostgreSQL runs under the data directory.
    """


@cli.command()
@setting_option("--host", field="host", help="Address to listen on.")
@setting_option("--port", field="port", type=int, help="Port to listen on (0 picks a free one).")
@setting_option("--workers", field="workers", type=int, help="Ingest worker processes.")
@setting_option("--data-dir", field="data_dir", type=click.Path(path_type=Path),
                help="Data directory (WAL, lake, state, embedded database).")  # fmt: skip
@setting_option("--database-url", field="database_url", metavar="URL", help="PostgreSQL URL.")
def serve(
    host: str | None,
    port: int | None,
    workers: int | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Run the server: ingest workers, the lake/projection pipeline, and the APIs."""
    from cxloop.db import EmbeddedPostgresError
    from cxloop.server import ServeError
    from cxloop.server import serve as run

    settings = Settings.from_env(
        host=host, port=port, workers=workers, data_dir=data_dir, database_url=database_url
    )
    if settings.workers < 1:
        raise click.UsageError("--workers must be at least 1")
    try:
        code = run(settings, echo=click.echo)
    except (ServeError, EmbeddedPostgresError) as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@cli.command()
@setting_option("--port", field="port", type=int,
                help="Port for the demo server (0 picks a free one).")  # fmt: skip
@setting_option("--data-dir", field="data_dir", type=click.Path(path_type=Path),
                help="Data directory (WAL, lake, state, embedded database).")  # fmt: skip
@click.option("--exit", "exit_after", is_flag=True, help="Stop after showing the results.")
@click.option("--accounts", type=click.IntRange(1, 20_000), default=200, show_default=True,
              help="Simulated accounts in the demo portfolio.")  # fmt: skip
@click.option("--days", type=click.IntRange(14, 365), default=90, show_default=True,
              help="Days of simulated history (and of backfilled scores).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True,
              help="Print one line of JSON on stdout once set up (urls, keys, console people); "
                   "everything else goes to stderr.")  # fmt: skip
def demo(
    port: int | None,
    data_dir: Path | None,
    exit_after: bool,
    accounts: int,
    days: int,
    as_json: bool,
) -> None:
    """Start cxloop, fill a demo project with a simulated portfolio, score it, and print the
    console's URL with the demo people's credentials."""
    from cxloop.demo import run_demo

    settings = Settings.from_env(port=port, data_dir=data_dir)

    def emit(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    def echo(text: str) -> None:
        click.echo(text, err=as_json)

    sys.exit(
        run_demo(
            settings,
            keep_running=not exit_after,
            echo=echo,
            accounts=accounts,
            days=days,
            emit_json=emit if as_json else None,
        )
    )


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README's settings table instead.")
def settings_command(markdown: bool) -> None:
    """List every setting: its environment variable, its default, and its value here."""
    if markdown:
        click.echo(settings_table(), nl=False)
        return
    click.echo(f"{'variable':<42} {'default':<20} set here")
    for field in msgspec.structs.fields(Settings):
        name = env_name(field.name)
        value = os.environ.get(name, "")
        if value and field.name == "database_url":
            value = redact_url(value)
        click.echo(f"{name:<42} {default_text(field.name):<20} {value or '-'}")
    Settings.from_env()  # a value that is not valid ends in the usual error


def main() -> None:
    cli(prog_name="cxloop")


if __name__ == "__main__":
    main()
