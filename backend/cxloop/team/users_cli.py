"""``cxloop users create|list|reset-password|unlock``: the people who sign in to the console,
for the first owner and for recovery without the API. No password is ever typed on the command
line (it would stay in the shell's history): a one-time link is printed instead, or one is read
from stdin for scripts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.table import Table

from cxloop.access import (
    ROLES,
    AccessError,
    ConsoleUser,
    add_member,
    cli_principal,
    create_password_reset,
    create_user,
    find_user,
    list_users,
    projects_of,
    record_audit,
    unlock_user,
)
from cxloop.db import Connection, database_options, report_migrations, run_with_database
from cxloop.projects import project_option_id
from cxloop.settings import Settings

__all__ = ["reset_link", "users_group"]

RESET_LINK_TTL_S = 3600.0
_encode_json = msgspec.json.Encoder().encode


def reset_link(settings: Settings, token: str) -> tuple[str, str]:
    """The console link a person opens to set a password, and the API call that does the same.

    The token sits after ``#``: browsers never send a fragment to the server or in a Referer.
    """
    base = settings.public_origin or f"http://127.0.0.1:{settings.port}"
    call = (
        f"curl -X POST {base}/v1/password-resets/{token} "
        "-H 'content-type: application/json' -d '{\"password\": \"…\"}'"
    )
    return f"{base}/console/reset#{token}", call


async def _audit(
    conn: Connection, user: ConsoleUser, action: str, details: dict[str, Any] | None = None
) -> None:
    for project_id, _ in await projects_of(conn, user.id):
        await record_audit(
            conn, cli_principal(project_id), action, "console_user", user.id, details
        )


async def _person(conn: Connection, email: str) -> ConsoleUser:
    user = await find_user(conn, email)
    if user is None:
        raise click.UsageError(
            f"nobody signs in as {email!r}: cxloop users list shows who does; "
            "cxloop users create EMAIL adds a person"
        )
    return user


def _run(data_dir: Path | None, database_url: str | None, action: Any) -> Any:
    async def guarded(conn: Connection) -> Any:
        try:
            return await action(conn)
        except AccessError as exc:
            raise click.UsageError(exc.message) from exc

    return run_with_database(data_dir, database_url, guarded, on_migrated=report_migrations)


def _print_link(settings: Settings, token: str, email: str) -> None:
    link, call = reset_link(settings, token)
    click.echo(
        f"One-time link for {email} to set a password (valid for "
        f"{round(RESET_LINK_TTL_S / 60)} min, works once; give it to them privately):\n"
        "\n"
        f"  {link}\n"
        "\n"
        "or set the password through the API:\n"
        "\n"
        f"  {call}"
    )


@click.group("users")
def users_group() -> None:
    """People who sign in to the console: create, list, reset a password, unlock."""


@users_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="The person's name, as the console shows it.")
@click.option("--project", default=None, help="Make them a member of this project (id or name).")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=None,
    show_default="viewer",
    help="Their role in --project (the first owner: owner).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from stdin (for scripts) instead of printing a one-time link.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new person as JSON.")
@database_options
def create_command(
    email: str,
    name: str,
    project: str | None,
    role: str | None,
    password_stdin: bool,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Add a person who signs in as EMAIL; print a one-time link to set their password."""
    if role is not None and project is None:
        raise click.UsageError("--role needs --project: the role is held in a project")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin read an empty line: pipe the password in")

    async def create(conn: Connection) -> tuple[ConsoleUser, str | None, str | None]:
        async with conn.transaction():
            project_id = await project_option_id(conn, project) if project else None
            user = await create_user(conn, email, name=name, password=password)
            if project_id is not None:
                await add_member(conn, project_id, user.id, role or "viewer")
            await _audit(
                conn,
                user,
                "console_user.created",
                {"email": user.email, "role": role or "viewer"},
            )
            token = (
                None
                if password is not None
                else await create_password_reset(conn, user.id, ttl_s=RESET_LINK_TTL_S)
            )
        return user, project_id, token

    user, project_id, token = _run(data_dir, database_url, create)
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    if as_json:
        link, call = reset_link(settings, token) if token else (None, None)
        click.echo(
            _encode_json(
                {
                    "user": user,
                    "project_id": project_id,
                    "role": (role or "viewer") if project_id else None,
                    "reset_link": link,
                    "reset_call": call,
                }
            )
        )
        return
    where = f" as {role or 'viewer'} of {project_id}" if project_id else " (in no project yet)"
    click.echo(f"Created {user.email} ({user.id}){where}\n")
    if token is not None:
        _print_link(settings, token, user.email)
    else:
        click.echo("The password read from stdin is set; they can sign in now.")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the people as a JSON array.")
@database_options
def list_command(as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List the people who sign in, their projects and roles, and who is locked out."""

    async def read(conn: Connection) -> list[tuple[ConsoleUser, list[tuple[str, str]]]]:
        return [(user, await projects_of(conn, user.id)) for user in await list_users(conn)]

    people: list[tuple[ConsoleUser, list[tuple[str, str]]]] = _run(data_dir, database_url, read)
    if as_json:
        click.echo(
            _encode_json(
                [
                    {
                        **msgspec.structs.asdict(user),
                        "projects": [{"id": p, "role": r} for p, r in projects],
                    }
                    for user, projects in people
                ]
            )
        )
        return
    if not people:
        click.echo(
            "nobody signs in yet; add the first owner with:\n"
            "  cxloop users create EMAIL --project PROJECT --role owner"
        )
        return
    console = Console()
    if not console.is_terminal:  # piped: never crop an email to fit 80 columns
        console = Console(width=200)
    table = Table("id", "email", "name", "projects", "password", "locked until", "created")
    for user, projects in people:
        table.add_row(
            user.id,
            user.email,
            user.name,
            ", ".join(f"{p} ({r})" for p, r in projects) or "-",
            "set" if user.has_password else "not set",
            user.locked_until.strftime("%Y-%m-%d %H:%M UTC") if user.locked_until else "-",
            user.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    console.print(table)


@users_group.command("reset-password")
@click.argument("email")
@database_options
def reset_password_command(email: str, data_dir: Path | None, database_url: str | None) -> None:
    """Print a new one-time link for EMAIL to set a password (earlier links stop working)."""

    async def reset(conn: Connection) -> tuple[ConsoleUser, str]:
        async with conn.transaction():
            user = await _person(conn, email)
            token = await create_password_reset(conn, user.id, ttl_s=RESET_LINK_TTL_S)
            await _audit(conn, user, "console_user.reset_link_issued")
        return user, token

    user, token = _run(data_dir, database_url, reset)
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    _print_link(settings, token, user.email)
    click.echo("\nTheir current password keeps working until the new one is set.")


@users_group.command("unlock")
@click.argument("email")
@database_options
def unlock_command(email: str, data_dir: Path | None, database_url: str | None) -> None:
    """Lift EMAIL's lockout after too many wrong passwords (and forget the failures)."""

    async def unlock(conn: Connection) -> tuple[ConsoleUser, bool]:
        async with conn.transaction():
            user = await _person(conn, email)
            changed = await unlock_user(conn, user.id)
            if changed:
                await _audit(conn, user, "console_user.unlocked")
        return user, changed

    user, changed = _run(data_dir, database_url, unlock)
    if changed:
        click.echo(f"Unlocked {user.email}: they can sign in again.")
    else:
        click.echo(f"{user.email} was not locked and had no failed sign-ins; nothing changed.")
