"""``cxloop drain`` and ``cxloop cluster status``: taking a node out, and seeing the nodes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cxloop.db import database_options, report_migrations, run_with_database, setting_option
from cxloop.settings import Settings

if TYPE_CHECKING:
    from cxloop.db import Connection

__all__ = ["cluster_group", "drain_command"]


@click.command("drain")
@setting_option("--data-dir", field="data_dir", type=click.Path(file_okay=False, path_type=Path),
                help="Data directory of the node to drain.")  # fmt: skip
@setting_option("--database-url", field="database_url", metavar="URL", help="PostgreSQL URL.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=600.0,
              show_default=True, help="Give up (exit 1) if the WAL is not empty by then (s).")  # fmt: skip
def drain_command(data_dir: Path | None, database_url: str | None, timeout_s: float) -> None:
    """Empty a stopped node's WAL into the lake and PostgreSQL, then remove the node from the
    cluster (its cluster_nodes row and leases). Stop its `cxloop serve` first (SIGTERM).

    Exits 0 once nothing the node acked is left only on its disk; refuses (exit 1) with what is
    left when it cannot get there (PostgreSQL away, serve still running)."""
    from cxloop.server.drain import DrainRefused, drain

    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)
    try:
        drain(settings, timeout_s=timeout_s, echo=lambda line: click.echo(line, err=True))
    except DrainRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("drained")


@click.group("cluster")
def cluster_group() -> None:
    """The nodes of a cluster (CXLOOP_CLUSTER) and the leases they share work by."""


@cluster_group.command("status")
@database_options
def status_command(data_dir: Path | None, database_url: str | None) -> None:
    """List the nodes (live or silent, WAL backlog) and the leases (holder, time left)."""
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url)

    async def show(conn: Connection) -> str:
        from cxloop.cluster import list_leases, list_nodes

        nodes = await list_nodes(conn, settings.cluster_lease_s)
        leases = await list_leases(conn)
        now = datetime.now(UTC)
        lines = [f"{'node':<24} {'state':<7} {'heard':>8} {'oldest WAL':>10} {'backlog':>10}  host"]
        for node in nodes:
            oldest = (
                "-"
                if node.oldest_segment_at is None
                else f"{(now - node.oldest_segment_at).total_seconds():.0f} s"
            )
            lines.append(
                f"{node.node_id:<24} {'live' if node.live else 'silent':<7} "
                f"{node.silent_s:>6.0f} s {oldest:>10} {_bytes(node.backlog_bytes):>10}  "
                f"{node.host}:{node.data_dir} (pid {node.pid})"
            )
        if not nodes:
            lines.append("(no nodes: CXLOOP_CLUSTER is off, or none has started)")
        lines.append("")
        lines.append(f"{'lease':<48} {'holder':<24} expires")
        for lease in leases:
            left = (lease.expires_at - now).total_seconds()
            when = f"in {left:.0f} s" if lease.live else f"expired {-left:.0f} s ago"
            lines.append(f"{lease.name:<48} {lease.holder:<24} {when}")
        return "\n".join(lines)

    click.echo(run_with_database(data_dir, database_url, show, on_migrated=report_migrations))


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit}"
