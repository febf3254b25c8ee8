"""Project WAL events into PostgreSQL: users, accounts, memberships, survey responses."""

from __future__ import annotations

import logging

import msgspec
import pyarrow as pa

from cxloop.alerts import open_alerts
from cxloop.db.pool import Connection
from cxloop.projection.prepare import prepare_batch
from cxloop.projection.sql import (
    UPSERT_ACCOUNTS,
    UPSERT_MEMBERSHIPS,
    UPSERT_RESPONSES,
    UPSERT_USERS,
)

__all__ = ["ProjectionStats", "project_events"]

log = logging.getLogger("cxloop.projection")

# How many skipped events a batch names in its log line; the count is always complete.
_LOGGED_INVALID = 5


class ProjectionStats(msgspec.Struct, kw_only=True):
    """What one call did. Table counts are rows inserted or changed (0 on a replay)."""

    events: int = 0
    failed_rows: int = 0  # rows with a failure_reason, which are not projected
    invalid: int = 0  # events skipped: JSON that cannot be parsed or has the wrong shape
    users: int = 0
    accounts: int = 0
    memberships: int = 0
    responses: int = 0
    alerts: int = 0  # alerts opened or changed (cxloop.alerts decides)


async def project_events(conn: Connection, table: pa.Table | pa.RecordBatch) -> ProjectionStats:
    """Upsert what ``table`` (WAL schema, valid deduplicated events, any projects) says.

    Everything happens in one transaction; when the caller already has one open (the
    pipeline does) this runs in a savepoint inside it and is durable only when the caller
    commits. Idempotent and independent of event order.
    """
    batch = prepare_batch(table)
    stats = ProjectionStats(
        events=batch.events, failed_rows=batch.failed_rows, invalid=len(batch.invalid)
    )
    if batch.invalid:
        log.warning(
            "skipped %d event(s) that cannot be projected, e.g. %s",
            len(batch.invalid),
            "; ".join(
                f"{row.project_id}/{row.message_id}: {row.reason}"
                for row in batch.invalid[:_LOGGED_INVALID]
            ),
        )
    if batch.failed_rows:
        log.warning("ignored %d failed event(s) given to the projector", batch.failed_rows)
    async with conn.transaction():
        if batch.users:
            stats.users = _row_count(await conn.execute(UPSERT_USERS, *batch.user_args()))
        if batch.accounts:
            stats.accounts = _row_count(await conn.execute(UPSERT_ACCOUNTS, *batch.account_args()))
        if batch.memberships:
            stats.memberships = _row_count(
                await conn.execute(UPSERT_MEMBERSHIPS, *batch.membership_args())
            )
        if batch.responses:
            stats.responses = _row_count(
                await conn.execute(UPSERT_RESPONSES, *batch.response_args())
            )
            # After the upsert: alerts follow the merged responses, in the same transaction.
            stats.alerts = await open_alerts(conn, *batch.alert_args())
    return stats


def _row_count(status: str) -> int:
    # "INSERT 0 <rows>": inserted plus updated; rows skipped by the upsert's WHERE not counted.
    return int(status.rsplit(" ", 1)[-1])
