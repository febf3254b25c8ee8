"""Project WAL events into PostgreSQL: users, accounts, memberships, survey responses."""

from __future__ import annotations

import hashlib
import io
import logging

import asyncpg
import msgspec
import pyarrow as pa

from cxloop.alerts import open_alerts
from cxloop.db import Connection, pg_text
from cxloop.projection.prepare import PreparedBatch, prepare_batch
from cxloop.projection.sql import (
    ATTRIBUTE_RESPONSES,
    INSERT_IMPRESSIONS,
    QUARANTINE,
    STAGE,
    STAGE_ACCOUNT_TRAITS,
    STAGE_ACCOUNTS,
    STAGE_IMPRESSIONS,
    STAGE_MEMBERSHIPS,
    STAGE_RESPONSES,
    STAGE_USER_TRAITS,
    STAGE_USERS,
    UPSERT_ACCOUNTS,
    UPSERT_MEMBERSHIPS,
    UPSERT_RESPONSES,
    UPSERT_USERS,
)

__all__ = ["ProjectionStats", "project_events"]

log = logging.getLogger("cxloop.projection")

# How many skipped events a batch names in its log line; the count is always complete.
_LOGGED_INVALID = 5
# Characters of a message id kept in projection_quarantine (its primary key must index it).
_MAX_QUARANTINED_ID = 512

# Errors one event's values cause: PostgreSQL refusing a value (SQLSTATE classes 22 data
# exception, 23 constraint, 54 program limit), asyncpg unable to encode an argument, or a
# value out of Python's range (a timestamp past year 9999). Anything else (connection lost,
# deadlock, shutdown, a bug) fails the whole batch, which the pipeline retries.
_VALUE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
    asyncpg.exceptions.ProgramLimitExceededError,
    asyncpg.exceptions._base.DataError,
    ArithmeticError,
)


class ProjectionStats(msgspec.Struct, kw_only=True):
    """What one call did. Table counts are rows inserted or changed (0 on a replay)."""

    events: int = 0
    failed_rows: int = 0  # rows with a failure_reason, which are not projected
    invalid: int = 0  # events skipped: JSON that cannot be parsed or has the wrong shape
    quarantined: int = 0  # events the database refused: in projection_quarantine, not projected
    users: int = 0
    accounts: int = 0
    memberships: int = 0
    responses: int = 0
    impressions: int = 0  # Survey Shown / Survey Dismissed events recorded
    attributed: int = 0  # earlier responses given the account of a user's first group call
    alerts: int = 0  # alerts opened or changed (cxloop.alerts decides)

    def add(self, other: ProjectionStats) -> None:
        for name in self.__struct_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


async def project_events(conn: Connection, table: pa.Table | pa.RecordBatch) -> ProjectionStats:
    """Upsert what ``table`` (WAL schema, valid deduplicated events, any projects) says.

    Everything happens in one transaction; when the caller already has one open (the
    pipeline does) this runs in a savepoint inside it and is durable only when the caller
    commits. Idempotent and independent of event order.

    An event whose values the database refuses must not wedge its segment (the pipeline would
    retry it forever): the batch is split in halves, each in its own savepoint, until the
    refused events are alone; they are recorded in ``projection_quarantine`` (same transaction)
    and everything else is projected. A replay reaches the same split, so each event is either
    projected or quarantined, exactly once.
    """
    async with conn.transaction():
        try:
            async with conn.transaction():
                stats = await _project(conn, table)
        except _VALUE_ERRORS as exc:
            stats = ProjectionStats()
            await _isolate(conn, table, exc, stats)
    if stats.quarantined:
        log.error(
            "quarantined %d event(s) the database refused (table projection_quarantine); "
            "the other %d event(s) were projected",
            stats.quarantined,
            stats.events - stats.quarantined,
        )
    return stats


async def _isolate(
    conn: Connection, table: pa.Table | pa.RecordBatch, error: BaseException, stats: ProjectionStats
) -> None:
    """Project ``table``, which failed with ``error``, a half at a time, quarantining lone
    events that fail (log2(rows) rounds per refused event; only ever on the rare bad row)."""
    if table.num_rows <= 1:
        if table.num_rows == 1:
            await _quarantine(conn, table, error)
            stats.events += 1
            stats.quarantined += 1
        return
    middle = table.num_rows // 2
    for part in (table.slice(0, middle), table.slice(middle)):
        try:
            async with conn.transaction():
                stats.add(await _project(conn, part))
        except _VALUE_ERRORS as exc:
            await _isolate(conn, part, exc, stats)


async def _quarantine(
    conn: Connection, row: pa.Table | pa.RecordBatch, error: BaseException
) -> None:
    project_id = pg_text(str(row.column("project_id")[0].as_py() or ""))
    message_id = _indexable(pg_text(str(row.column("message_id")[0].as_py() or "")))
    if isinstance(error, asyncpg.PostgresError):
        reason, detail = "database_refused", f"{error.sqlstate} {error}"
    else:
        reason, detail = "unprojectable_value", f"{type(error).__name__}: {error}"
    log.error("quarantined event %s/%s: %s", project_id, message_id, detail)
    await conn.execute(QUARANTINE, project_id, message_id, reason, pg_text(detail[:2000]))


async def _project(conn: Connection, table: pa.Table | pa.RecordBatch) -> ProjectionStats:
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
    await _write(conn, batch, stats)
    return stats


async def _write(conn: Connection, batch: PreparedBatch, stats: ProjectionStats) -> None:
    if batch.users or batch.accounts or batch.responses or batch.impressions:
        await conn.execute(STAGE)
    if batch.users:
        await _copy(conn, STAGE_USERS, batch.users.csv())
        if batch.user_traits.traits:
            await _copy(conn, STAGE_USER_TRAITS, batch.user_traits.csv())
        stats.users = _row_count(await conn.execute(UPSERT_USERS))
    if batch.accounts:
        await _copy(conn, STAGE_ACCOUNTS, batch.accounts.csv())
        if batch.account_traits.traits:
            await _copy(conn, STAGE_ACCOUNT_TRAITS, batch.account_traits.csv())
        stats.accounts = _row_count(await conn.execute(UPSERT_ACCOUNTS))
    if batch.memberships:
        await _copy(conn, STAGE_MEMBERSHIPS, batch.memberships.csv())
        stats.memberships = _row_count(await conn.execute(UPSERT_MEMBERSHIPS))
        group_call_users = batch.group_call_user_args()
        if group_call_users[0]:
            stats.attributed = _row_count(
                await conn.execute(ATTRIBUTE_RESPONSES, *group_call_users)
            )
    if batch.responses:
        await _copy(conn, STAGE_RESPONSES, batch.response_csv())
        stats.responses = _row_count(await conn.execute(UPSERT_RESPONSES))
        # After the upsert: alerts follow the merged responses, in the same transaction.
        stats.alerts = await open_alerts(conn, *batch.alert_args())
    if batch.impressions:
        await _copy(conn, STAGE_IMPRESSIONS, batch.impression_csv())
        stats.impressions = _row_count(await conn.execute(INSERT_IMPRESSIONS))


async def _copy(conn: Connection, table: str, csv: bytes) -> None:
    """COPY rows Arrow wrote as CSV into a staging table (one stream, no per-value Python)."""
    await conn.copy_to_table(table, source=io.BytesIO(csv), format="csv")


def _indexable(message_id: str) -> str:
    # The refused value may be this very id (a messageId too long for a B-tree entry, used as
    # response_id): the quarantine row must not be refused too. A hash keeps long ids distinct.
    if len(message_id) <= _MAX_QUARANTINED_ID:
        return message_id
    digest = hashlib.blake2b(message_id.encode(), digest_size=16).hexdigest()
    return f"{message_id[: _MAX_QUARANTINED_ID - 1 - len(digest)]}…{digest}"


def _row_count(status: str) -> int:
    # "INSERT 0 <rows>" / "UPDATE <rows>": inserted plus updated; rows skipped by a WHERE not
    # counted.
    return int(status.rsplit(" ", 1)[-1])
