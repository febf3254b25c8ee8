"""``cxloop tokens create|list|revoke --project P``: personal API tokens, for the first owner
and for recovery without the API. A token is printed once; only its hash is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import msgspec

from cxloop.access import (
    SCOPES,
    TokenInfo,
    cli_principal,
    create_token,
    find_user,
    list_tokens,
    record_audit,
    revoke_token,
)
from cxloop.db import Connection, database_options
from cxloop.projects import project_option
from cxloop.team.members_cli import run_for_project

__all__ = ["tokens_group"]

_encode_json = msgspec.json.Encoder().encode
MAX_DAYS = 3650


def _days(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_DAYS:
        raise click.BadParameter(f"give 1 to {MAX_DAYS} days")
    return value


@click.group("tokens")
def tokens_group() -> None:
    """Make, list and revoke people's API tokens (see docs/access.md)."""


@tokens_group.command("create")
@project_option
@click.option("--email", required=True, help="The member the token belongs to.")
@click.option("--name", required=True, help="What the token is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help=f"A scope (repeat for several): {', '.join(SCOPES)}.",
)
@click.option("--expires-in-days", type=int, default=None, callback=_days, metavar="DAYS",
              help="Days until it stops working, 1 to 3650.  [default: never]")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the token and its info as JSON.")
@database_options
def create_command(
    project: str,
    email: str,
    name: str,
    scopes: tuple[str, ...],
    expires_in_days: int | None,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Make a token for EMAIL (within their role) and print it, only this once."""
    expires_at = None
    if expires_in_days is not None:
        expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)

    async def create(conn: Connection, project_id: str) -> tuple[str, TokenInfo]:
        user = await find_user(conn, email)
        if user is None:
            raise click.UsageError(f"nobody signs in as {email} (cxloop users list)")
        token, info = await create_token(
            conn, project_id, user.id, name=name, scopes=scopes, expires_at=expires_at
        )
        await record_audit(
            conn,
            cli_principal(project_id),
            "token.created",
            "token",
            info.id,
            {
                "name": info.name,
                "prefix": info.prefix,
                "scopes": info.scopes,
                "email": info.email,
                "expires_at": info.expires_at.isoformat() if info.expires_at else None,
            },
        )
        return token, info

    token, info = run_for_project(data_dir, database_url, project, create)
    if as_json:
        click.echo(_encode_json({"token": token, "info": info}))
        return
    expiry = info.expires_at.strftime("%Y-%m-%d %H:%M UTC") if info.expires_at else "never"
    click.echo(
        f"Created token {info.name!r} ({info.id}) for {info.email}: "
        f"scopes {', '.join(info.scopes)}, expires {expiry}\n\n"
        f"  {token}\n\n"
        "It is shown only this once: cxloop stores just its hash. Send it as\n"
        f"  Authorization: Bearer {token[:12]}…"
    )


@tokens_group.command("list")
@project_option
@click.option("--email", default=None, help="Only this person's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as a JSON array.")
@database_options
def list_command(
    project: str, email: str | None, as_json: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """List the project's tokens that are not revoked (never the tokens themselves)."""

    async def fetch(conn: Connection, project_id: str) -> list[TokenInfo]:
        user_id = None
        if email is not None:
            user = await find_user(conn, email)
            if user is None:
                raise click.UsageError(f"nobody signs in as {email} (cxloop users list)")
            user_id = user.id
        return await list_tokens(conn, project_id, user_id=user_id)

    tokens = run_for_project(data_dir, database_url, project, fetch)
    if as_json:
        click.echo(_encode_json(tokens))
        return
    for info in tokens:
        used = info.last_used_at.strftime("%Y-%m-%d %H:%M") if info.last_used_at else "never"
        click.echo(
            f"{info.id}  {info.prefix}…  {info.email}  {info.name!r}  "
            f"[{', '.join(info.scopes)}]  last used {used}"
        )
    if not tokens:
        click.echo("no tokens")


@tokens_group.command("revoke")
@project_option
@click.argument("token_id")
@database_options
def revoke_command(
    project: str, token_id: str, data_dir: Path | None, database_url: str | None
) -> None:
    """Revoke the token TOKEN_ID (tok_…) now."""

    async def revoke(conn: Connection, project_id: str) -> TokenInfo:
        info = await revoke_token(conn, project_id, token_id)
        if info is None:
            raise click.UsageError(f"no live token {token_id} in this project (cxloop tokens list)")
        await record_audit(
            conn,
            cli_principal(project_id),
            "token.revoked",
            "token",
            info.id,
            {"name": info.name, "prefix": info.prefix, "email": info.email},
        )
        return info

    info = run_for_project(data_dir, database_url, project, revoke)
    click.echo(f"revoked {info.id} ({info.name!r} of {info.email})")
