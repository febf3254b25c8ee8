"""``cxloop privacy …``: delete, export, requests, retention."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
import msgspec

from cxloop.access import cli_principal, record_audit
from cxloop.db import Connection, database_options
from cxloop.lake import LakeLocation
from cxloop.privacy import store
from cxloop.privacy.cli_delete import delete_command
from cxloop.privacy.export import ExportSubject, export_json_chunks, export_profile, export_zip
from cxloop.projects import project_option, run_for_project
from cxloop.settings import Settings

__all__ = ["privacy_group"]


@click.group("privacy")
def privacy_group() -> None:
    """Serve data subjects' rights: delete, export, and the retention of events."""


privacy_group.add_command(delete_command)


@privacy_group.command("export")
@project_option
@click.option("--user-id", required=True, help="The end user's userId, as events carry it.")
@click.option("--anonymous-id", default=None, help="Also their anonymousId (before sign-in).")
@click.option("--format", "export_format", type=click.Choice(["json", "zip"]), default="json",
              show_default=True, help="One JSON document, or a zip of Parquet files and JSON.")  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write (it holds personal data: keep it safe).")  # fmt: skip
@database_options
def export_command(
    project: str,
    user_id: str,
    anonymous_id: str | None,
    export_format: str,
    output: Path,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Write everything cxloop holds about an end user (the right of access) to a file."""
    lake_dir = LakeLocation.from_settings(
        Settings.from_env(data_dir=data_dir, database_url=database_url)
    )

    async def export(conn: Connection, project_id: str) -> int:
        subject = ExportSubject(project_id, user_id, anonymous_id)
        profile = await export_profile(conn, subject)
        digests = [
            digest
            for _, digest in store.subject_digests(
                project_id, store.Subject(user_id=user_id, anonymous_id=anonymous_id)
            )
        ]
        await record_audit(
            conn,
            cli_principal(project_id),
            "privacy.exported",
            "subject",
            None,
            {"format": export_format, "digests": digests},
        )
        if export_format == "zip":
            data = await asyncio.to_thread(export_zip, profile, lake_dir, subject)
            return await asyncio.to_thread(_write, output, [data])
        chunks = export_json_chunks(profile, lake_dir, subject)
        return await asyncio.to_thread(_write, output, chunks)

    size = run_for_project(data_dir, database_url, project, export)
    click.echo(f"wrote {output} ({size} bytes)")


def _write(path: Path, chunks: Any) -> int:
    size = 0
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
            size += len(chunk)
    return size


@privacy_group.command("requests")
@project_option
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@database_options
def requests_command(
    project: str, limit: int, data_dir: Path | None, database_url: str | None
) -> None:
    """List the project's deletion requests, newest first, with their status."""

    async def fetch(conn: Connection, project_id: str) -> list[store.PrivacyRequest]:
        return await store.list_requests(conn, project_id, limit=limit)

    requests = run_for_project(data_dir, database_url, project, fetch)
    for request in requests:
        done = request.finished_at.isoformat(timespec="seconds") if request.finished_at else "-"
        click.echo(
            f"{request.id}  {request.status:<7} {request.created_at.isoformat(timespec='seconds')}"
            f"  finished {done}  by {request.requested_by}"
        )
    if not requests:
        click.echo("no deletion requests: cxloop privacy delete --project … --user-id …")


@privacy_group.command("retention")
@project_option
@click.option("--days", type=click.IntRange(1, 36500), default=None,
              help="Remove events older than this many days.")  # fmt: skip
@click.option("--forever", is_flag=True, help="Keep events forever (no retention).")
@click.option("--keep-rollups/--drop-rollups", default=None,
              help="Whether health rollups outlive the events (not given: unchanged; first set: keep).")  # fmt: skip
@database_options
def retention_command(
    project: str,
    days: int | None,
    forever: bool,
    keep_rollups: bool | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Show the project's retention, or set it with --days N or --forever."""
    if days is not None and forever:
        raise click.UsageError("give --days N or --forever, not both")
    change = days is not None or forever or keep_rollups is not None

    async def apply(conn: Connection, project_id: str) -> store.RetentionConfig:
        before = await store.get_retention(conn, project_id)
        if not change:
            return before
        async with conn.transaction():
            config = await store.set_retention(
                conn,
                project_id,
                retention_days=None if forever else (days or before.retention_days),
                keep_rollups=before.keep_rollups if keep_rollups is None else keep_rollups,
            )
            await record_audit(
                conn,
                cli_principal(project_id),
                "privacy.retention_changed",
                "privacy_config",
                project_id,
                {
                    "retention_days": [before.retention_days, config.retention_days],
                    "keep_rollups": [before.keep_rollups, config.keep_rollups],
                },
            )
        return config

    config = run_for_project(data_dir, database_url, project, apply)
    click.echo(json.dumps(msgspec.to_builtins(config), indent=2))
