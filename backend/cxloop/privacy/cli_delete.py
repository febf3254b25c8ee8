"""``cxloop privacy delete``: queue a deletion; with ``--wait``, follow it to its receipt.

The pipeline of a running ``cxloop serve`` works the request. When none runs for the data
directory (``state/serve.lock`` is free), the command works it itself, holding that lock so
``serve`` cannot start meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import msgspec

from cxloop.access import cli_principal, record_audit
from cxloop.db import (
    Connection,
    database_options,
    register_json_codecs,
    report_migrations,
    run_with_database,
)
from cxloop.ops import Registry
from cxloop.privacy import store
from cxloop.privacy.jobs import DeletionJobs
from cxloop.projects import project_option_id
from cxloop.settings import Settings
from cxloop.wal import segments_in_flight

__all__ = ["delete_command"]

POLL_S = 0.5


@click.command("delete")
@click.option("--project", "project", required=True, help="The project's id or name.")
@click.option("--user-id", default=None, help="The end user's userId, as events carry it.")
@click.option("--anonymous-id", default=None, help="An anonymousId (a visitor, or the user's).")
@click.option("--account-id", default=None, help="An account's groupId (the account itself).")
@click.option("--wait", is_flag=True, help="Wait until the deletion is done; print its receipt.")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait for the end before giving up (the deletion goes on).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the request as JSON.")
@database_options
def delete_command(
    project: str,
    user_id: str | None,
    anonymous_id: str | None,
    account_id: str | None,
    wait: bool,
    timeout: float,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Delete a data subject (an end user or an account) from every store: PostgreSQL, the
    lake, the rollups and the WAL. Their events are refused from the moment it is queued."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    say = click.echo if not as_json else _to_stderr

    async def run(conn: Connection) -> store.PrivacyRequest:
        await register_json_codecs(conn)  # type: ignore[arg-type]
        project_id = await project_option_id(conn, project)
        with _serve_lock(settings.state_dir) as no_serve:
            async with conn.transaction():
                try:
                    request = await store.create_deletion(
                        conn,
                        project_id,
                        user_id=user_id,
                        anonymous_id=anonymous_id,
                        account_id=account_id,
                        requested_by=cli_principal(project_id).label,
                    )
                except store.PrivacyError as exc:
                    raise click.UsageError(exc.message) from None
                subject = request.subject or store.Subject()
                digests = [d for _, d in store.subject_digests(project_id, subject)]
                await record_audit(
                    conn,
                    cli_principal(project_id),
                    "privacy.deletion_requested",
                    "privacy_request",
                    request.id,
                    {"digests": digests},
                )
            say(f"deletion {request.id} queued; the subject's events are refused from now on")
            if no_serve:
                return await _work_here(conn, settings, request, timeout, say)
        if not wait:
            say("the pipeline of the running cxloop serve deletes it; follow it with --wait")
            return request
        return await _follow(conn, request, timeout, say)

    request = run_with_database(data_dir, database_url, run, on_migrated=report_migrations)
    if as_json:
        click.echo(msgspec.json.encode(request).decode())
    elif request.status == "done":
        click.echo(_receipt_text(request.receipt))
    if request.status == "failed":
        raise click.ClickException(f"deletion {request.id} failed: {request.error}")


async def _work_here(
    conn: Connection, settings: Settings, request: store.PrivacyRequest, wait_s: float, say: Any
) -> store.PrivacyRequest:
    """No serve runs: do the pipeline's part for this request (and any queued before it)."""
    leftover = segments_in_flight(settings.wal_dir, time.time_ns())
    if leftover:
        say(
            f"no cxloop serve runs for {settings.data_dir}, and {len(leftover)} WAL segment(s) "
            "of an earlier run are not in the lake yet: start cxloop serve, whose pipeline "
            "finishes the deletion"
        )
        return request
    say(f"no cxloop serve runs for {settings.data_dir}: deleting here (serve waits for it)")
    jobs = DeletionJobs(settings, Registry(), wait_for_workers=False)
    deadline = time.monotonic() + wait_s
    while True:
        current = await store.get_request(conn, request.project_id, request.id)
        assert current is not None
        if current.status in ("done", "failed"):
            return current
        if time.monotonic() > deadline:
            say(f"still {current.status} after {wait_s:g} s; cxloop serve finishes it")
            return current
        if not await jobs.step_with(conn):
            await asyncio.sleep(POLL_S)


async def _follow(
    conn: Connection, request: store.PrivacyRequest, wait_s: float, say: Any
) -> store.PrivacyRequest:
    deadline = time.monotonic() + wait_s
    phase = None
    while True:
        current = await store.get_request(conn, request.project_id, request.id)
        assert current is not None
        if current.status in ("done", "failed"):
            return current
        if current.receipt.get("phase") != phase:
            phase = current.receipt.get("phase")
            if phase:
                say(f"… {phase}")
        if time.monotonic() > deadline:
            say(f"still {current.status} after {wait_s:g} s; it goes on in the pipeline")
            return current
        await asyncio.sleep(POLL_S)


@contextlib.contextmanager
def _serve_lock(state_dir: Path) -> Iterator[bool]:
    """True (and the lock held) when no ``cxloop serve`` runs on this data directory; the
    same ``flock`` serve takes (cxloop.server.supervisor)."""
    fd = os.open(state_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _receipt_text(receipt: dict[str, Any]) -> str:
    postgres = receipt.get("postgres", {})
    lake = receipt.get("lake", {})
    rows = ", ".join(f"{table} {n}" for table, n in sorted(postgres.items()) if n) or "none"
    return "\n".join(
        [
            "done:",
            f"  PostgreSQL rows: {rows}",
            f"  lake: {lake.get('events', 0)} events, {lake.get('failed', 0)} failed events; "
            f"{lake.get('files_rewritten', 0)} files rewritten, "
            f"{lake.get('files_removed', 0)} removed, {lake.get('bytes_rewritten', 0)} bytes",
            f"  WAL: {receipt.get('wal', {}).get('events_dropped', 0)} events dropped",
            f"  rollups: {receipt.get('rollups', {}).get('days', 0)} days recomputed",
        ]
    )


def _to_stderr(message: str) -> None:
    click.echo(message, err=True)
