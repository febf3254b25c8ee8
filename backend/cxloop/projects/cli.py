"""``cxloop projects create NAME`` and ``cxloop projects list``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
import msgspec
from rich.console import Console
from rich.table import Table

from cxloop.db import Connection, database_options, report_migrations, run_with_database
from cxloop.projects.service import (
    CreatedProject,
    Project,
    ProjectError,
    create_project,
    find_project,
    list_projects,
)

__all__ = ["project_option", "project_option_id", "projects_group", "run_for_project"]

T = TypeVar("T")

_encode_json = msgspec.json.Encoder().encode


async def project_option_id(conn: Connection, project: str) -> str:
    """The id of the project a ``--project`` option names (its id, else its unique name), or a
    usage error saying what to do; every command that takes ``--project`` asks this."""
    try:
        found = await find_project(conn, project)
    except ProjectError as exc:
        raise click.UsageError(str(exc)) from exc
    return found.id


# ``--project P`` of every command that works on one project.
project_option = click.option(
    "--project", "project", required=True, help="The project's id or name."
)


def run_for_project(
    data_dir: Path | None,
    database_url: str | None,
    project: str,
    action: Callable[[Connection, str], Awaitable[T]],
    *,
    refusals: tuple[type[Exception], ...] = (),
) -> T:
    """Run ``action(conn, project id)`` in one transaction, migrations applied first; an
    unknown project, or one of ``refusals`` raised by the action, is a usage error."""

    async def run(conn: Connection) -> T:
        project_id = await project_option_id(conn, project)
        try:
            async with conn.transaction():
                return await action(conn, project_id)
        except refusals as exc:
            raise click.UsageError(str(exc)) from exc

    return run_with_database(data_dir, database_url, run, on_migrated=report_migrations)


@click.group("projects")
def projects_group() -> None:
    """Create and list projects (each has a write key and a secret key)."""


@projects_group.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the new project as JSON.")
@database_options
def create_command(
    name: str, as_json: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """Create a project called NAME and print its keys (the secret key only this once)."""

    async def create(conn: Connection) -> CreatedProject:
        try:
            return await create_project(conn, name)
        except ProjectError as exc:
            raise click.UsageError(str(exc)) from exc

    project = run_with_database(data_dir, database_url, create, on_migrated=report_migrations)
    if as_json:
        click.echo(_encode_json(project))
        return
    click.echo(
        f"Created project {project.name!r} ({project.id})\n"
        "\n"
        f"  write key   {project.write_key}\n"
        f"  secret key  {project.secret_key}\n"
        "\n"
        "The secret key is shown only this once: cxloop stores just its hash. Copy it now.\n"
        "\n"
        "  Tracking: put the write key in the snippet (or as the writeKey of any Segment\n"
        "            library); it is public and can only send events.\n"
        "  Read API: send the secret key as a header, keep it on your servers:\n"
        f"            Authorization: Bearer {project.secret_key}"
    )


@projects_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the projects as a JSON array.")
@database_options
def list_command(as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List projects with their write keys and secret key prefixes."""
    projects: list[Project] = run_with_database(
        data_dir, database_url, list_projects, on_migrated=report_migrations
    )
    if as_json:
        click.echo(_encode_json(projects))
        return
    if not projects:
        click.echo("no projects yet; create one with: cxloop projects create NAME")
        return
    console = Console()
    if not console.is_terminal:  # piped: never crop a key to fit 80 columns
        console = Console(width=200)
    table = Table("id", "name", "write key", "secret key", "created")
    for project in projects:
        table.add_row(
            project.id,
            project.name,
            project.write_key,
            project.secret_key_prefix + "…",
            project.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    console.print(table)
