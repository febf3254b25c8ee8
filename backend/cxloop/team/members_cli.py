"""``cxloop members add|list|set-role|remove --project P``: a project's people and their roles,
for the first owner and for recovery without the API (the audit log names the CLI)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
import msgspec

from cxloop.access import (
    ROLES,
    AccessError,
    ConsoleUser,
    Member,
    add_member,
    cli_principal,
    create_password_reset,
    create_user,
    find_user,
    list_members,
    record_audit,
    remove_member,
    set_role,
)
from cxloop.db import Connection, database_options
from cxloop.projects import ProjectError, project_option
from cxloop.projects import run_for_project as projects_run
from cxloop.settings import Settings
from cxloop.team.members_controller import INVITE_LINK_TTL_S
from cxloop.team.users_cli import reset_link

__all__ = ["members_group", "run_for_project"]

T = TypeVar("T")
_encode_json = msgspec.json.Encoder().encode

_email_option = click.option("--email", required=True, help="The person's email address.")
_role_option = click.option("--role", required=True, type=click.Choice(ROLES), help="The role.")


def run_for_project(
    data_dir: Path | None,
    database_url: str | None,
    project: str,
    action: Callable[[Connection, str], Awaitable[T]],
) -> T:
    """:func:`cxloop.projects.run_for_project`, with the team's refusals as usage errors."""
    return projects_run(
        data_dir, database_url, project, action, refusals=(AccessError, ProjectError)
    )


async def _member_user(conn: Connection, email: str) -> ConsoleUser:
    user = await find_user(conn, email)
    if user is None:
        raise click.UsageError(f"nobody signs in as {email} (cxloop users list)")
    return user


def _describe(member: Member) -> str:
    return f"{member.email} ({member.user_id}) is {member.role}"


@click.group("members")
def members_group() -> None:
    """Add people to a project, change their roles, remove them (see docs/access.md)."""


@members_group.command("add")
@project_option
@_email_option
@_role_option
@click.option("--name", default="", help="The person's name, when they are new.")
@database_options
def add_command(
    project: str,
    email: str,
    role: str,
    name: str,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Make EMAIL a member in ROLE (creating their console account if needed); prints a
    one-time set-password link when they have no password yet."""
    settings = Settings.from_env()

    async def add(conn: Connection, project_id: str) -> tuple[Member, str | None]:
        user = await find_user(conn, email)
        created = user is None
        if user is None:
            user = await create_user(conn, email, name=name)
        member = await add_member(conn, project_id, user.id, role)
        await record_audit(
            conn,
            cli_principal(project_id),
            "member.added",
            "member",
            user.id,
            {"email": member.email, "role": member.role, "created_user": created},
        )
        if user.has_password:
            return member, None
        return member, await create_password_reset(conn, user.id, ttl_s=INVITE_LINK_TTL_S)

    member, token = run_for_project(data_dir, database_url, project, add)
    click.echo(f"added: {_describe(member)}")
    if token is not None:
        link, call = reset_link(settings, token)
        hours = INVITE_LINK_TTL_S // 3600
        click.echo(
            f"\nThey have no password yet. Hand them this one-time link (valid {hours} h):\n"
            f"  {link}\nor set it from a script:\n  {call}"
        )


@members_group.command("list")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the members as a JSON array.")
@database_options
def list_command(
    project: str, as_json: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """List the project's members and their roles."""
    members = run_for_project(data_dir, database_url, project, list_members)
    if as_json:
        click.echo(_encode_json(members))
        return
    for member in members:
        password = "" if member.has_password else "  (no password yet)"
        click.echo(f"{member.user_id}  {member.role:<8} {member.email}{password}")
    if not members:
        click.echo("no members yet: cxloop members add --project … --email … --role owner")


@members_group.command("set-role")
@project_option
@_email_option
@_role_option
@database_options
def set_role_command(
    project: str, email: str, role: str, data_dir: Path | None, database_url: str | None
) -> None:
    """Change the role of EMAIL (the last owner cannot be demoted)."""

    async def change(conn: Connection, project_id: str) -> str:
        user = await _member_user(conn, email)
        change = await set_role(conn, project_id, user.id, role)
        if change.old_role != change.new_role:
            await record_audit(
                conn,
                cli_principal(project_id),
                "member.role_changed",
                "member",
                user.id,
                {"email": user.email, "old_role": change.old_role, "new_role": change.new_role},
            )
        return f"{user.email}: {change.old_role} -> {change.new_role}"

    click.echo(run_for_project(data_dir, database_url, project, change))


@members_group.command("remove")
@project_option
@_email_option
@database_options
def remove_command(
    project: str, email: str, data_dir: Path | None, database_url: str | None
) -> None:
    """Take EMAIL out of the project and revoke their tokens for it (not the last owner)."""

    async def remove(conn: Connection, project_id: str) -> str:
        user = await _member_user(conn, email)
        change = await remove_member(conn, project_id, user.id)
        await record_audit(
            conn,
            cli_principal(project_id),
            "member.removed",
            "member",
            user.id,
            {
                "email": user.email,
                "old_role": change.old_role,
                "tokens_revoked": change.tokens_revoked,
            },
        )
        return f"removed {user.email} ({change.old_role}); {change.tokens_revoked} token(s) revoked"

    click.echo(run_for_project(data_dir, database_url, project, remove))
