"""The ``cxloop`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cxloop import __version__
from cxloop.settings import Settings, SettingsError

__all__ = ["main"]


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings.from_env(None, **overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cxloop")
def cli() -> None:
    """cxloop: Segment-compatible ingest, in-app ratings and account health.

    Settings come from CXLOOP_* environment variables (see README) and DATABASE_URL;
    without DATABASE_URL an embedded PostgreSQL runs under the data directory.
    """


@cli.command()
@click.option("--host", default=None, help="Address to listen on (CXLOOP_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (CXLOOP_PORT, 8000; 0 picks one).")
@click.option("--workers", type=int, default=None, help="Ingest worker processes (CXLOOP_WORKERS).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="CXLOOP_DATA_DIR.")
@click.option("--database-url", default=None, help="PostgreSQL URL (DATABASE_URL).")
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

    settings = load_settings(
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
@click.option("--port", type=int, default=None, help="Port for the demo server (0 picks one).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="CXLOOP_DATA_DIR.")
@click.option("--exit", "exit_after", is_flag=True, help="Stop after showing the results.")
def demo(port: int | None, data_dir: Path | None, exit_after: bool) -> None:
    """Start cxloop, create a demo project, send events, and show where they landed."""
    from cxloop.demo import run_demo

    settings = load_settings(port=port, data_dir=data_dir)
    sys.exit(run_demo(settings, keep_running=not exit_after, echo=click.echo))


def _register_domain_commands() -> None:
    from cxloop.db.cli import migrate_command
    from cxloop.health.cli import score_command
    from cxloop.projects.cli import projects_group
    from cxloop.surveys.cli import surveys_group

    cli.add_command(migrate_command)
    cli.add_command(projects_group)
    cli.add_command(surveys_group)
    cli.add_command(score_command)


_register_domain_commands()


def main() -> None:
    cli(prog_name="cxloop")


if __name__ == "__main__":
    main()
