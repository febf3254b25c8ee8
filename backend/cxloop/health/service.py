"""Refreshing health: roll the lake up, score every account, keep a daily snapshot."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import msgspec

from cxloop.db import Connection, pg_text
from cxloop.health.rollup import (
    LakePartition,
    RollupReport,
    connect,
    lake_partitions,
    rollup_project,
    rollup_source,
)
from cxloop.health.score import (
    AccountInputs,
    Health,
    HealthConfig,
    ProjectNorms,
    Words,
    score_account,
)
from cxloop.health.store import comments_pending_analysis
from cxloop.lake import LakeLocation
from cxloop.wal import backlog
from cxloop.webhooks import WebhookEvent, enqueue_many

__all__ = [
    "RefreshReport",
    "RollupEngine",
    "backfill_project",
    "load_config",
    "project_inputs",
    "refresh_project",
    "rollup_on_duckdb",
    "wait_for_acked",
    "wait_for_analysed",
    "words_of",
]

log = logging.getLogger("cxloop.health")

# What brings a project's rollup stores up to date before it is scored (decision 63: DuckDB
# over per-file details; or a Spark job, ``cxloop.health.spark_rollup``).
RollupEngine = Callable[[Connection, "Path | LakeLocation", str], Awaitable[RollupReport]]

# Advisory lock key for one refresh at a time per database ("cxhealth").
_LOCK = 0x6378_6865_616C_7468


@dataclass
class RefreshReport:
    project_id: str
    as_of: date
    accounts: int = 0  # snapshots written
    # Accounts whose scoring or snapshot failed (logged with the error): skipped this time,
    # while every other account's snapshot is written.
    failed_accounts: list[str] = field(default_factory=list)
    rollup: RollupReport = field(default_factory=RollupReport)
    seconds: float = 0.0


async def wait_for_acked(wal_dir: Path, before_ns: int, timeout_s: float = 120) -> None:
    """Return once every event acked before ``before_ns`` has gone through the lake and
    PostgreSQL: the WAL segments that held events at the call (made before it) must be gone.

    Only those are waited for, not what keeps arriving: with ingest running, each scan finds
    new segments, and the refresh must not chase them. So the wait is the projection lag at the
    call (plus up to ``wal_segment_max_age_s`` for the open segment to be sealed), bounded by
    back-pressure on the backlog (``wal_backlog_max_s``).
    """
    deadline = time.monotonic() + timeout_s
    scan = await asyncio.to_thread(backlog, wal_dir)
    waiting = {sid for sid in scan.in_flight if _created_ns(sid) < before_ns}
    while waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(waiting)} WAL segment(s) holding events acked before the refresh are not "
                f"in the lake and PostgreSQL after {timeout_s:g} s (the oldest acked event not "
                f"yet in PostgreSQL has waited {scan.projection_lag_s():.0f} s); is the pipeline "
                "running? /readyz shows its lag; retry later"
            )
        await asyncio.sleep(0.2)
        scan = await asyncio.to_thread(backlog, wal_dir)
        waiting &= scan.in_flight


def _created_ns(segment: str) -> int:
    """The creation stamp of a segment id ``<slot>-<ns>``."""
    return int(segment.rpartition("-")[2])


async def wait_for_analysed(conn: Connection, project_id: str, timeout_s: float = 120) -> None:
    """Return once no comment of the project waits for (re)analysis, so the score reads the
    words of every comment it counts (the pipeline analyses them after projection)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pending = await comments_pending_analysis(conn, project_id)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{pending} comment(s) are not analysed yet; is the pipeline running?"
            )
        await asyncio.sleep(0.2)


async def load_config(conn: Connection, project_id: str) -> HealthConfig:
    raw = await conn.fetchval(
        "SELECT config::text FROM health_config WHERE project_id = $1", project_id
    )
    return msgspec.json.decode(raw, type=HealthConfig) if raw else HealthConfig()


_USAGE = """
WITH u AS (
    SELECT * FROM {usage_user}
    WHERE date > $as_of - INTERVAL 90 DAY AND date <= $as_of
)
SELECT account_id,
       count(DISTINCT user_key) FILTER (WHERE date > $as_of - INTERVAL 30 DAY) AS users_30,
       count(DISTINCT user_key) FILTER (WHERE date > $as_of - INTERVAL 7 DAY) AS users_7,
       count(DISTINCT date) FILTER (WHERE date > $as_of - INTERVAL 28 DAY) AS active_days_28,
       coalesce(sum(events) FILTER (WHERE date > $as_of - INTERVAL 14 DAY), 0) AS events_recent,
       coalesce(sum(events) FILTER (WHERE date <= $as_of - INTERVAL 14 DAY
                                      AND date > $as_of - INTERVAL 56 DAY), 0) AS events_baseline,
       max(date) AS last_day,
       min(date) AS first_day,
       count(*) FILTER (WHERE date > $as_of - INTERVAL 28 DAY) AS user_days_28,
       coalesce(sum(events) FILTER (WHERE date > $as_of - INTERVAL 28 DAY), 0) AS events_28
FROM u GROUP BY account_id
"""

_FEATURES = """
SELECT account_id,
       list(DISTINCT feature) FILTER (WHERE date > $as_of - INTERVAL 30 DAY) AS features,
       count(DISTINCT feature) FILTER (WHERE date > $as_of - INTERVAL 14 DAY) AS recent,
       count(DISTINCT feature) FILTER (WHERE date <= $as_of - INTERVAL 14 DAY
                                         AND date > $as_of - INTERVAL 56 DAY) AS baseline
FROM {usage_feature}
WHERE date > $as_of - INTERVAL 56 DAY AND date <= $as_of AND feature <> 'page'
GROUP BY account_id
"""

_KEY_FEATURES = """
SELECT feature FROM {usage_feature}
WHERE date > $as_of - INTERVAL 30 DAY AND date <= $as_of AND feature <> 'page'
GROUP BY feature ORDER BY count(DISTINCT account_id) DESC, feature LIMIT 10
"""

# Segments come from cxloop_survey_segment (migrations/0003), the SQL copy of
# cxloop.surveys.ratings.segment_of that tests/integration/test_ratings_sql.py holds equal.
# The words (docs/health.md, "What the comments say"): an analysed comment puts its response
# in the worse of its score's segment and its words' (negative → detractor, mixed → at most
# passive); churn intent and competitors count in the last 90 days.
_FEEDBACK = """
WITH s AS (
    SELECT account_id, responded_at, sentiment, churn_intent, competitors,
           cxloop_survey_segment(kind, score) AS segment,
           (comment IS NOT NULL AND analysed_at IS NOT NULL) AS analysed,
           responded_at >= $2::date - 90 AS recent
    FROM survey_responses
    WHERE project_id = $1 AND account_id IS NOT NULL AND score IS NOT NULL
      AND responded_at >= $2::date - 180 AND responded_at < $2::date + 1
), w AS (
    SELECT *, CASE WHEN analysed AND sentiment = 'negative' THEN 'detractor'
                   WHEN analysed AND sentiment = 'mixed' AND segment = 'promoter' THEN 'passive'
                   ELSE segment END AS worded
    FROM s
), named AS (
    SELECT account_id, array_agg(DISTINCT name ORDER BY name) AS competitor_names
    FROM s, unnest(s.competitors) AS name
    WHERE analysed AND recent
    GROUP BY account_id
), r AS (
    SELECT account_id,
           count(*) FILTER (WHERE segment = 'promoter') AS promoters,
           count(*) FILTER (WHERE segment = 'passive') AS passives,
           count(*) FILTER (WHERE segment = 'detractor') AS detractors,
           count(*) FILTER (WHERE analysed) AS comments,
           count(*) FILTER (WHERE analysed AND sentiment = 'negative') AS negative,
           count(*) FILTER (WHERE analysed AND sentiment = 'negative'
                              AND segment <> 'detractor') AS disagreeing,
           count(*) FILTER (WHERE worded = 'promoter') AS w_promoters,
           count(*) FILTER (WHERE worded = 'passive') AS w_passives,
           count(*) FILTER (WHERE worded = 'detractor') AS w_detractors,
           count(*) FILTER (WHERE analysed AND recent AND churn_intent) AS churn_intent,
           count(*) FILTER (WHERE analysed AND recent
                              AND cardinality(competitors) > 0) AS competitor_comments
    FROM w
    GROUP BY account_id
), a AS (
    SELECT account_id, count(*) AS open_alerts,
           count(*) FILTER (WHERE NOT ('detractor' = ANY (reasons))) AS open_alerts_from_words
    FROM alerts
    WHERE project_id = $1 AND status = 'open' AND account_id IS NOT NULL
      AND responded_at < $2::date + 1
    GROUP BY account_id
)
SELECT acc.account_id, acc.seats, acc.first_seen_at,
       coalesce(r.promoters, 0) AS promoters, coalesce(r.passives, 0) AS passives,
       coalesce(r.detractors, 0) AS detractors, coalesce(a.open_alerts, 0) AS open_alerts,
       coalesce(a.open_alerts_from_words, 0) AS open_alerts_from_words,
       coalesce(r.comments, 0) AS comments, r.negative, r.disagreeing, r.w_promoters,
       r.w_passives, r.w_detractors, r.churn_intent, r.competitor_comments,
       named.competitor_names
FROM accounts AS acc
LEFT JOIN r ON r.account_id = acc.account_id
LEFT JOIN a ON a.account_id = acc.account_id
LEFT JOIN named ON named.account_id = acc.account_id
WHERE acc.project_id = $1 AND (acc.first_seen_at IS NULL OR acc.first_seen_at < $2::date + 1)
UNION ALL
SELECT r.account_id, NULL, NULL, r.promoters, r.passives, r.detractors, 0, 0,
       r.comments, r.negative, r.disagreeing, r.w_promoters, r.w_passives, r.w_detractors,
       r.churn_intent, r.competitor_comments, named.competitor_names
FROM r LEFT JOIN named ON named.account_id = r.account_id WHERE NOT EXISTS (
    SELECT 1 FROM accounts AS acc WHERE acc.project_id = $1 AND acc.account_id = r.account_id)
"""


def _usage(
    lake: Path | LakeLocation, project_id: str, as_of: date
) -> tuple[list[Any], dict[str, tuple[Any, Any, Any]], list[str]]:
    """Per-account usage aggregates, features used, and the default key features."""
    with connect(lake) as db:
        users = rollup_source(db, lake, "usage_user", project_id)
        features = rollup_source(db, lake, "usage_feature", project_id)
        if users is None or features is None:
            return [], {}, []
        params = {"as_of": as_of}
        usage = db.execute(_USAGE.format(usage_user=users), params).fetchall()
        used = {
            account: (names, recent, baseline)
            for account, names, recent, baseline in db.execute(
                _FEATURES.format(usage_feature=features), params
            ).fetchall()
        }
        key = [
            r[0]
            for r in db.execute(_KEY_FEATURES.format(usage_feature=features), params).fetchall()
        ]
    return usage, used, key


async def project_inputs(
    conn: Connection, lake: Path | LakeLocation, project_id: str, as_of: date
) -> tuple[list[AccountInputs], list[str]]:
    """Every account with usage in the 90 days before ``as_of``, and the default key features."""
    usage, used, key_features = await asyncio.to_thread(_usage, lake, project_id, as_of)
    feedback = {r["account_id"]: r for r in await conn.fetch(_FEEDBACK, project_id, as_of)}
    inputs = []
    # Account ids and feature names from the lake as PostgreSQL stores them (NUL → U+FFFD,
    # db/text.py), so they match the projection's accounts and a configured key feature.
    used = {
        pg_text(account): ([pg_text(f) for f in names or ()], recent, baseline)
        for account, (names, recent, baseline) in used.items()
    }
    key_features = [pg_text(f) for f in key_features]
    for (raw_account_id, users_30, users_7, active_days_28, recent, baseline, last_day,
         first_day, user_days_28, events_28) in usage:  # fmt: skip
        account_id = pg_text(raw_account_id)
        extra = feedback.get(account_id)
        first_seen = first_day
        if extra is not None and extra["first_seen_at"] is not None:
            first_seen = min(first_day, extra["first_seen_at"].date())
        seats = extra["seats"] if extra is not None else None
        inputs.append(
            AccountInputs(
                account_id=account_id,
                seats=seats if seats and seats > 0 else None,
                history_days=(as_of - first_seen).days + 1,
                users_30=users_30,
                users_7=users_7,
                active_days_28=active_days_28,
                events_recent=int(recent),
                events_baseline=int(baseline),
                days_since_active=(as_of - last_day).days,
                features_30=set(used.get(account_id, ((),))[0] or ()),
                breadth_recent=int(used[account_id][1]) if account_id in used else 0,
                breadth_baseline=int(used[account_id][2]) if account_id in used else 0,
                user_days_28=int(user_days_28),
                events_28=int(events_28),
                promoters=extra["promoters"] if extra else 0,
                passives=extra["passives"] if extra else 0,
                detractors=extra["detractors"] if extra else 0,
                open_alerts=extra["open_alerts"] if extra else 0,
                open_alerts_from_words=extra["open_alerts_from_words"] if extra else 0,
                words=words_of(extra),
            )
        )
    # Known accounts with no usage in 90 days are scored too (they are the quietest risk),
    # rather than left out or left with a stale snapshot.
    seen = {i.account_id for i in inputs}
    for account_id, extra in feedback.items():
        if account_id in seen:
            continue
        first_seen = extra["first_seen_at"].date() if extra["first_seen_at"] else as_of
        inputs.append(
            AccountInputs(
                account_id=account_id,
                seats=extra["seats"] if extra["seats"] and extra["seats"] > 0 else None,
                history_days=max(1, (as_of - first_seen).days + 1),
                users_30=0,
                users_7=0,
                active_days_28=0,
                events_recent=0,
                events_baseline=0,
                days_since_active=None,
                promoters=extra["promoters"],
                passives=extra["passives"],
                detractors=extra["detractors"],
                open_alerts=extra["open_alerts"],
                open_alerts_from_words=extra["open_alerts_from_words"],
                words=words_of(extra),
            )
        )
    return inputs, key_features


def words_of(row: Any) -> Words | None:
    """What an account's analysed comments say, from its feedback row; None without any."""
    if row is None or not row["comments"]:
        return None
    return Words(
        comments=row["comments"],
        negative=row["negative"],
        disagreeing=row["disagreeing"],
        promoters=row["w_promoters"],
        passives=row["w_passives"],
        detractors=row["w_detractors"],
        churn_intent=row["churn_intent"],
        competitor_comments=row["competitor_comments"],
        competitors=tuple(row["competitor_names"] or ()),
    )


def score_inputs(
    inputs: list[AccountInputs], config: HealthConfig, key_features: list[str]
) -> list[Health]:
    norms = ProjectNorms.of(inputs)
    return [score_account(i, config, key_features, norms) for i in inputs]


def score_each(
    inputs: list[AccountInputs], config: HealthConfig, key_features: list[str]
) -> tuple[list[Health], list[str]]:
    """Like ``score_inputs``, but an account that fails to score is logged and left out
    (its id returned) instead of failing every other account's score."""
    norms = ProjectNorms.of(inputs)
    scored, failed = [], []
    for account in inputs:
        try:
            scored.append(score_account(account, config, key_features, norms))
        except Exception:
            log.exception("health: scoring account %r failed; skipped", account.account_id)
            failed.append(account.account_id)
    return scored, failed


_UPSERT_SNAPSHOT = """
INSERT INTO health_snapshots (project_id, account_id, day, score, band,
    confidence, change, components, drivers, computed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9::text::jsonb, now())
ON CONFLICT (project_id, account_id, day) DO UPDATE SET
    score = EXCLUDED.score, band = EXCLUDED.band,
    confidence = EXCLUDED.confidence, change = EXCLUDED.change,
    components = EXCLUDED.components, drivers = EXCLUDED.drivers,
    computed_at = now()
"""

# What one account's snapshot can fail with: PostgreSQL refusing a value (SQLSTATE classes
# 22, 23, 54) or a value Python cannot encode. Anything else fails the refresh (and is retried).
_VALUE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
    asyncpg.exceptions.ProgramLimitExceededError,
    ValueError,
    ArithmeticError,
    TypeError,
)


async def _write_snapshots(
    conn: Connection, records: list[tuple[Any, ...]], report: RefreshReport
) -> set[str]:
    """Upsert the snapshots, all at once; if that fails, a half at a time until a refused
    account is alone, so it is skipped (logged, in ``report.failed_accounts``) and the others
    are written in a few statements (a refused account stays in the lake, so every refresh
    meets it again: not one round trip per account). Which accounts were written."""
    try:
        async with conn.transaction():
            await conn.executemany(_UPSERT_SNAPSHOT, records)
        return {r[1] for r in records}
    except _VALUE_ERRORS as exc:
        if len(records) == 1:
            log.error("health: snapshot of account %r refused; skipped: %s", records[0][1], exc)
            report.failed_accounts.append(records[0][1])
            return set()
    middle = len(records) // 2
    written = await _write_snapshots(conn, records[:middle], report)
    return written | await _write_snapshots(conn, records[middle:], report)


_PREVIOUS = """
SELECT DISTINCT ON (account_id) account_id, score, band, components
FROM health_snapshots WHERE project_id = $1 AND day < $2
ORDER BY account_id, day DESC
"""


def _change_drivers(current: Health, previous: list[dict[str, Any]] | None) -> list[str]:
    if previous is None:
        return []
    before = {c["name"]: c["contribution"] for c in previous}
    moves = sorted(
        ((c.contribution - before.get(c.name, 0.0), c.name) for c in current.components),
        key=lambda move: -abs(move[0]),
    )
    return [f"{name} {'+' if delta >= 0 else '−'}{abs(delta):.1f} points"
            for delta, name in moves[:3] if abs(delta) >= 0.5]  # fmt: skip


# The pipeline merges small lake files as it goes (lake/tidy.py): a file listed here may be
# merged away before DuckDB opens it. That fails loudly (never a short answer): list again.
# Each attempt keeps the file details it made (health/rollup.py), so the next one reads only
# what it has not seen (a merged file whose sources it read is their sum, not read again).
_LISTING_ATTEMPTS = 10


async def rollup_on_duckdb(
    conn: Connection, lake: Path | LakeLocation, project_id: str
) -> RollupReport:
    """The default rollup engine: DuckDB over the project's listing (decision 63), listed
    again when files were merged away meanwhile."""
    for attempt in range(_LISTING_ATTEMPTS):
        partitions = await asyncio.to_thread(_project_partitions, lake, project_id)
        try:
            return await rollup_project(conn, lake, project_id, partitions)
        except (FileNotFoundError, duckdb.IOException):
            if attempt == _LISTING_ATTEMPTS - 1:
                raise
            log.info("health: lake files of %s merged while rolling up; listing again", project_id)
    raise AssertionError("unreachable")


def _project_partitions(lake: Path | LakeLocation, project_id: str) -> list[LakePartition]:
    return lake_partitions(lake, project_id).get(project_id, [])


async def refresh_project(
    conn: Connection,
    lake: Path | LakeLocation,
    project_id: str,
    as_of: date | None = None,
    *,
    notify: bool = True,
    rollup: RollupEngine | None = None,
) -> RefreshReport:
    """Roll up what changed, score every account active in 90 days, write today's snapshot.

    ``as_of`` a past day scores from what the lake and PostgreSQL hold up to that day (usage
    to that day, responses and the alerts they opened to that day, accounts first seen by
    then) and writes that day's snapshot, its change against the snapshot before it.
    ``lake``: where the lake lives (a ``Path`` is a local lake).
    ``notify=False`` enqueues no webhook news (a backfill does not announce the past).
    ``rollup``: what brings the rollup stores up to date (unset: DuckDB in this process;
    ``cxloop.health.rollup_engine(settings)`` gives the configured one)."""
    started = time.perf_counter()
    as_of = as_of or datetime.now(UTC).date()
    report = RefreshReport(project_id, as_of)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        report.rollup = await (rollup or rollup_on_duckdb)(conn, lake, project_id)
        config = await load_config(conn, project_id)
        inputs, default_features = await project_inputs(conn, lake, project_id, as_of)
        key_features = config.key_features or default_features
        # Pure Python over every account: off the event loop (a worker may be serving ingest).
        scored, report.failed_accounts = await asyncio.to_thread(
            score_each, inputs, config, key_features
        )
        previous = {r["account_id"]: r for r in await conn.fetch(_PREVIOUS, project_id, as_of)}
        records = []
        events: dict[str, list[WebhookEvent]] = {}
        for health in scored:
            try:
                record, news = _snapshot(project_id, as_of, health, previous, config)
            except Exception:
                log.exception("health: snapshot of account %r failed; skipped", health.account_id)
                report.failed_accounts.append(health.account_id)
                continue
            records.append(record)
            events[record[1]] = events.get(record[1], []) + news
        written = await _write_snapshots(conn, records, report)
        # In the same transaction as the snapshots: a delivery exists exactly when they do.
        if notify:
            await enqueue_many(conn, [e for account in written for e in events.get(account, [])])
    if report.failed_accounts:
        log.error(
            "health refresh of %s skipped %d account(s), e.g. %r",
            project_id,
            len(report.failed_accounts),
            report.failed_accounts[:5],
        )
    report.accounts = len(written)
    report.seconds = time.perf_counter() - started
    return report


async def backfill_project(
    conn: Connection,
    lake: Path | LakeLocation,
    project_id: str,
    days: int,
    until: date | None = None,
    *,
    rollup: RollupEngine | None = None,
) -> list[RefreshReport]:
    """Score each of the ``days`` days up to ``until`` (default today), oldest first, as a
    refresh on that day would have, so the score history has a snapshot per day (each with its
    change against the day before). Only ``until`` itself sends webhook news.

    What it cannot see as it was: traits (``seats``) and alert statuses are today's, and a
    comment's analysis is today's (the analysis of the same text does not change)."""
    if days < 1:
        raise ValueError("backfill at least one day")
    until = until or datetime.now(UTC).date()
    reports = []
    for back in range(days - 1, -1, -1):
        day = until - timedelta(days=back)
        reports.append(
            await refresh_project(conn, lake, project_id, day, notify=back == 0, rollup=rollup)
        )
    return reports


def _snapshot(
    project_id: str,
    as_of: date,
    health: Health,
    previous: dict[str, Any],
    config: HealthConfig,
) -> tuple[tuple[Any, ...], list[WebhookEvent]]:
    """One account's snapshot row and the webhook events it causes. Its text is already what
    PostgreSQL stores: ``project_inputs`` made the lake's account ids and feature names so."""
    before = previous.get(health.account_id)
    components = msgspec.to_builtins(health.components)
    prior = _json_value(before["components"]) if before is not None else None
    drivers = {"score": health.drivers, "change": _change_drivers(health, prior)}
    record = (
        project_id, health.account_id, as_of, health.score, health.band, health.confidence,
        round(health.score - before["score"], 1) if before is not None else None,
        msgspec.json.encode(components).decode(), msgspec.json.encode(drivers).decode(),
    )  # fmt: skip
    news = (
        _health_events(project_id, as_of, health, before, prior, config)
        if before is not None
        else []
    )
    return record, news


def _health_events(
    project_id: str,
    as_of: date,
    health: Health,
    before: Any,
    prior: list[dict[str, Any]] | None,
    config: HealthConfig,
) -> list[WebhookEvent]:
    """``health.band_changed`` and ``health.dropped`` against the previous day's snapshot.

    Event ids derive from (project, account, day, type): refreshing the same day again (the
    hourly schedule) never sends the same news twice.
    """
    out = []
    drop = before["score"] - health.score
    data = {
        "account_id": health.account_id,
        "as_of": as_of.isoformat(),
        "old": {"score": before["score"], "band": before["band"]},
        "new": {"score": health.score, "band": health.band},
        "change": round(-drop, 1),
        "top_changes": _change_drivers(health, prior),
        "drivers": health.drivers,
    }
    for kind, happened in (
        ("health.band_changed", before["band"] != health.band),
        ("health.dropped", drop > 0 and drop >= config.drop_threshold),
    ):
        if happened:
            key = f"{project_id}\x00{health.account_id}\x00{as_of}\x00{kind}".encode()
            event_id = "evt_" + hashlib.blake2b(key, digest_size=12).hexdigest()
            out.append(WebhookEvent(project_id=project_id, type=kind, data=data, id=event_id))
    return out


def _json_value(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value
