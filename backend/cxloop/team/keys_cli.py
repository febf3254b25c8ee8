"""``cxloop keys list|rotate|revoke-retired --project P``: the project's keys without the API
(for recovery, e.g. after a leaked secret key). The audit log names the CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import click
import msgspec

from cxloop.access import cli_principal, record_audit
from cxloop.db import Connection, database_options
from cxloop.projects import (
    KeyKind,
    KeyRotation,
    ProjectKeys,
    project_keys,
    project_option,
    revoke_retired_keys,
    rotate_key,
)
from cxloop.settings import Settings
from cxloop.team.keys_schemas import MAX_GRACE_S
from cxloop.team.members_cli import run_for_project

__all__ = ["keys_group", "parse_duration"]

_encode_json = msgspec.json.Encoder().encode
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_kind_option = click.option(
    "--kind", required=True, type=click.Choice(get_args(KeyKind)), help="Which key."
)


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``24h``, ``7d`` → seconds; ValueError saying what is accepted."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use e.g. 0, 90s, 15m, 24h or 7d")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds > MAX_GRACE_S:
        raise ValueError(f"a grace period lasts at most {MAX_GRACE_S // 86400} days")
    return seconds


def _grace(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.group("keys")
def keys_group() -> None:
    """Rotate a project's secret or write key with a grace period, revoke the old ones."""


@keys_group.command("list")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@database_options
def list_command(
    project: str, as_json: bool, data_dir: Path | None, database_url: str | None
) -> None:
    """The write key, the secret key's prefix, and the retired keys with their grace."""

    async def fetch(conn: Connection, project_id: str) -> ProjectKeys:
        keys = await project_keys(conn, project_id)
        assert keys is not None  # the project was just found
        return keys

    keys = run_for_project(data_dir, database_url, project, fetch)
    if as_json:
        click.echo(_encode_json(keys))
        return
    click.echo(f"write key   {keys.write_key}\nsecret key  {keys.secret_key_prefix}…")
    for retired in keys.retired:
        state = "works until" if retired.active else "stopped"
        click.echo(
            f"retired {retired.kind:<6} {retired.prefix}…  "
            f"{state} {retired.valid_until.strftime('%Y-%m-%d %H:%M:%S UTC')}"
        )


@keys_group.command("rotate")
@project_option
@_kind_option
@click.option("--grace", default=None, callback=_grace, metavar="DURATION",
              help="How long the old key keeps working (0, 90s, 15m, 24h, 7d).  "
                   "[default: CXLOOP_KEY_ROTATION_GRACE_S, else 24h]")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the rotation as JSON.")
@database_options
def rotate_command(
    project: str,
    kind: KeyKind,
    grace: float | None,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Make a new KIND key and print it (a secret key only this once)."""
    grace_s = Settings.from_env().key_rotation_grace_s if grace is None else grace

    async def rotate(conn: Connection, project_id: str) -> KeyRotation:
        rotation = await rotate_key(conn, project_id, kind, grace_s=grace_s)
        assert rotation is not None  # the project was just found
        await record_audit(
            conn,
            cli_principal(project_id),
            "key.rotated",
            "key",
            kind,
            rotation.audit_details(grace_s),
        )
        return rotation

    rotation = run_for_project(data_dir, database_url, project, rotate)
    if as_json:
        click.echo(_encode_json(rotation))
        return
    until = rotation.old_valid_until.strftime("%Y-%m-%d %H:%M:%S UTC")
    click.echo(
        f"new {kind} key  {rotation.key}\n"
        f"old {kind} key  {rotation.old_prefix}… works until {until}"
    )
    if kind == "secret":
        click.echo("\nThe secret key is shown only this once: cxloop stores just its hash.")
    else:
        click.echo("\nPut the new write key in the snippet before the old one stops working.")


@keys_group.command("revoke-retired")
@project_option
@_kind_option
@database_options
def revoke_retired_command(
    project: str, kind: KeyKind, data_dir: Path | None, database_url: str | None
) -> None:
    """End the grace period of every retired KIND key now."""

    async def revoke(conn: Connection, project_id: str) -> int:
        revoked = await revoke_retired_keys(conn, project_id, kind)
        await record_audit(
            conn,
            cli_principal(project_id),
            "key.revoked",
            "key",
            kind,
            {"kind": kind, "keys": revoked},
        )
        return revoked

    revoked = run_for_project(data_dir, database_url, project, revoke)
    click.echo(f"{revoked} retired {kind} key(s) stopped working now")
