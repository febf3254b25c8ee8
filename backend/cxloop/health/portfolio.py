"""The portfolio page's answer (``GET /v1/portfolio``) and an account's weekly activity.

Everything is read in PostgreSQL (snapshots, accounts' typed traits, alerts) except the
activity, which DuckDB reads from the usage rollups next to the lake. ``mrr`` is the
accounts' current ``mrr`` trait: band history weighs each day's bands by today's MRR (the
trait has no history).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from cxloop.db import Connection
from cxloop.health.rollup import rollup_glob
from cxloop.health.schemas import (
    AccountActivity,
    AccountSummary,
    ActivityWeek,
    AlertAge,
    BandDay,
    BandShare,
    FeatureWeeks,
    Portfolio,
    PortfolioNow,
    RenewalWindow,
    ScoreDrop,
)
from cxloop.health.store import LATEST_SUMMARY

__all__ = ["RENEWAL_WINDOWS", "account_activity", "portfolio", "summary_of"]

BANDS = ("green", "yellow", "red")
RENEWAL_WINDOWS = (30, 60, 90)
UPCOMING = 25
DROPS = 10
DROP_DAYS = 7
TOP_FEATURES = 20

AS_OF = "SELECT max(day) FROM health_snapshots WHERE project_id = $1"
# One row per snapshot day in (as_of - days, as_of]: accounts and their MRR per band.
BAND_DAYS = """
SELECT s.day,
       count(*) FILTER (WHERE s.band = 'green') AS green,
       count(*) FILTER (WHERE s.band = 'yellow') AS yellow,
       count(*) FILTER (WHERE s.band = 'red') AS red,
       coalesce(sum(m.mrr) FILTER (WHERE s.band = 'green'), 0) AS mrr_green,
       coalesce(sum(m.mrr) FILTER (WHERE s.band = 'yellow'), 0) AS mrr_yellow,
       coalesce(sum(m.mrr) FILTER (WHERE s.band = 'red'), 0) AS mrr_red
FROM health_snapshots AS s
LEFT JOIN (SELECT account_id, mrr::float8 AS mrr FROM accounts
           WHERE project_id = $1 AND mrr IS NOT NULL) AS m ON m.account_id = s.account_id
WHERE s.project_id = $1 AND s.day > $2::date - $3::int AND s.day <= $2
GROUP BY s.day ORDER BY s.day
"""
# Summary rows of the latest day with a renewal in 0..$2 days, soonest first.
RENEWING = f"""
SELECT * FROM ({LATEST_SUMMARY}) AS s
WHERE s.days_to_renewal BETWEEN 0 AND $2
ORDER BY s.renewal_date, s.account_id
"""  # noqa: S608 - fixed fragments
# The biggest drops: latest score minus the oldest score of the last 7 days (the snapshot
# 7 days before, or the oldest one in that range), with the latest snapshot's change drivers.
DROPS_SQL = f"""
WITH base AS (
    SELECT DISTINCT ON (account_id) account_id, day AS since, score AS before
    FROM health_snapshots
    WHERE project_id = $1 AND day >= $2::date - $3::int AND day < $2
    ORDER BY account_id, day
)
SELECT s.*, b.since, s.score - b.before AS drop,
       (SELECT drivers -> 'change' FROM health_snapshots AS d
        WHERE d.project_id = $1 AND d.account_id = s.account_id AND d.day = s.day)::text
           AS change_drivers
FROM ({LATEST_SUMMARY}) AS s JOIN base AS b USING (account_id)
WHERE s.score - b.before < 0
ORDER BY s.score - b.before, s.account_id
LIMIT $4
"""  # noqa: S608 - fixed fragments
ALERT_AGES = """
SELECT CASE WHEN age < interval '1 day' THEN '<1d'
            WHEN age < interval '7 days' THEN '1-7d'
            WHEN age < interval '30 days' THEN '7-30d'
            ELSE '>30d' END AS bucket,
       count(*) FILTER (WHERE status = 'open') AS open,
       count(*) FILTER (WHERE status = 'acknowledged') AS in_progress
FROM (SELECT now() - opened_at AS age, status FROM alerts
      WHERE project_id = $1 AND status IN ('open', 'acknowledged')) AS a
GROUP BY 1
"""

_decode_drivers = msgspec.json.Decoder(list[str] | None).decode


def summary_of(row: Any) -> AccountSummary:
    """A summary row (``store.LATEST_SUMMARY``'s columns) as the API shows it."""
    renewal = row["renewal_date"]
    return AccountSummary(
        account_id=row["account_id"],
        name=row["name"],
        plan=row["plan"],
        score=row["score"],
        band=row["band"],
        confidence=row["confidence"],
        change=row["change"],
        as_of=row["day"].isoformat(),
        seats=row["seats"],
        status=row["status"],
        mrr=row["mrr"],
        csm=row["csm"],
        renewal_date=None if renewal is None else renewal.isoformat(),
        days_to_renewal=row["days_to_renewal"],
    )


def _shares(rows: list[Any]) -> list[BandShare]:
    accounts: dict[str, int] = defaultdict(int)
    mrr: dict[str, float] = defaultdict(float)
    for row in rows:
        accounts[row["band"]] += 1
        mrr[row["band"]] += row["mrr"] or 0.0
    return [BandShare(band=b, accounts=accounts[b], mrr=round(mrr[b], 2)) for b in BANDS]  # type: ignore[arg-type]


async def portfolio(conn: Connection, project_id: str, days: int) -> Portfolio:
    """The portfolio as of the latest snapshot day; zeros and empty lists without snapshots."""
    as_of: date | None = await conn.fetchval(AS_OF, project_id)
    alert_rows = await conn.fetch(ALERT_AGES, project_id)
    ages = {r["bucket"]: r for r in alert_rows}
    alerts_by_age = [
        AlertAge(
            bucket=bucket,
            open=ages[bucket]["open"] if bucket in ages else 0,
            in_progress=ages[bucket]["in_progress"] if bucket in ages else 0,
        )
        for bucket in ("<1d", "1-7d", "7-30d", ">30d")
    ]
    if as_of is None:
        return Portfolio(
            as_of=None,
            bands=[],
            current=PortfolioNow(accounts=0, mrr=0.0, by_band=_shares([])),
            renewals=[
                RenewalWindow(within_days=n, accounts=0, mrr=0.0, by_band=_shares([]))
                for n in RENEWAL_WINDOWS
            ],
            upcoming_renewals=[],
            drops=[],
            alerts_by_age=alerts_by_age,
        )
    band_rows = await conn.fetch(BAND_DAYS, project_id, as_of, days)
    current = await conn.fetch(LATEST_SUMMARY, project_id)
    renewing = await conn.fetch(RENEWING, project_id, max(RENEWAL_WINDOWS))
    drop_rows = await conn.fetch(DROPS_SQL, project_id, as_of, DROP_DAYS, DROPS)
    renewals = []
    for window in RENEWAL_WINDOWS:
        inside = [r for r in renewing if r["days_to_renewal"] <= window]
        renewals.append(
            RenewalWindow(
                within_days=window,
                accounts=len(inside),
                mrr=round(sum(r["mrr"] or 0.0 for r in inside), 2),
                by_band=_shares(inside),
            )
        )
    return Portfolio(
        as_of=as_of.isoformat(),
        bands=[
            BandDay(
                day=r["day"].isoformat(),
                green=r["green"],
                yellow=r["yellow"],
                red=r["red"],
                mrr_green=round(r["mrr_green"], 2),
                mrr_yellow=round(r["mrr_yellow"], 2),
                mrr_red=round(r["mrr_red"], 2),
            )
            for r in band_rows
        ],
        current=PortfolioNow(
            accounts=len(current),
            mrr=round(sum(r["mrr"] or 0.0 for r in current), 2),
            by_band=_shares(current),
        ),
        renewals=renewals,
        upcoming_renewals=[summary_of(r) for r in renewing[:UPCOMING]],
        drops=[
            ScoreDrop(
                **msgspec.structs.asdict(summary_of(r)),
                drop=round(r["drop"], 2),
                since=r["since"].isoformat(),
                change_drivers=(_decode_drivers(r["change_drivers"] or "null") or [])[:3],
            )
            for r in drop_rows
        ],
        alerts_by_age=alerts_by_age,
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def account_activity(
    lake_dir: Path,
    project_id: str,
    account_id: str,
    weeks: int,
    seats: int | None,
    today: date,
) -> AccountActivity:
    """Active users, events and seats per ISO week (oldest first, the current week last), and
    the top features' events per week, from the usage rollups (DuckDB; blocking)."""
    first = _monday(today) - timedelta(weeks=weeks - 1)
    mondays = [first + timedelta(weeks=i) for i in range(weeks)]
    index = {monday: i for i, monday in enumerate(mondays)}
    users = [0] * weeks
    events = [0] * weeks
    per_feature: dict[str, list[int]] = {}
    user_source = rollup_glob(lake_dir, "usage_user", project_id)
    feature_source = rollup_glob(lake_dir, "usage_feature", project_id)
    params = {"account": account_id, "since": first, "until": today}
    with duckdb.connect() as db:
        if user_source is not None:
            for week, active, total in db.execute(
                "SELECT date_trunc('week', date)::DATE AS week, count(DISTINCT user_key), "  # noqa: S608 - our path
                f"sum(events) FROM {user_source} WHERE account_id = $account "
                "AND date >= $since AND date <= $until GROUP BY 1",
                params,
            ).fetchall():
                if week in index:
                    users[index[week]] = int(active)
                    events[index[week]] = int(total)
        if feature_source is not None:
            for feature, week, total in db.execute(
                "SELECT feature, date_trunc('week', date)::DATE AS week, sum(events) "  # noqa: S608 - our path
                f"FROM {feature_source} WHERE account_id = $account "
                "AND date >= $since AND date <= $until GROUP BY 1, 2",
                params,
            ).fetchall():
                if week in index:
                    per_feature.setdefault(feature, [0] * weeks)[index[week]] = int(total)
    top = sorted(per_feature.items(), key=lambda item: (-sum(item[1]), item[0]))[:TOP_FEATURES]
    return AccountActivity(
        account_id=account_id,
        weeks=[
            ActivityWeek(
                week=monday.isoformat(),
                active_users=users[i],
                events=events[i],
                seats=seats,
            )
            for i, monday in enumerate(mondays)
        ],
        features=[FeatureWeeks(feature=name, weeks=counts) for name, counts in top],
    )
