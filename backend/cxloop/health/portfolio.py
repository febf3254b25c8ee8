"""The portfolio page's answer (``GET /v1/portfolio``) and an account's weekly activity.

Everything is read in PostgreSQL (snapshots, accounts' typed traits, alerts) except the
activity, which DuckDB reads from the usage rollups next to the lake. MRR is the ``mrr``
trait: the accounts' current value for ``current`` and the renewals, the value each snapshot
recorded when it was written for the band history (``health_band_days``, kept by triggers).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec

from cxloop.db import Connection
from cxloop.health.rollup import connect, rollup_source
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
from cxloop.lake import LakeLocation

__all__ = ["RENEWAL_WINDOWS", "account_activity", "portfolio", "summary_of"]

BANDS = ("green", "yellow", "red")
RENEWAL_WINDOWS = (30, 60, 90)
UPCOMING = 25
DROPS = 10
DROP_DAYS = 7
TOP_FEATURES = 20

AS_OF = "SELECT max(day) FROM health_snapshots WHERE project_id = $1"
# One row per band per snapshot day in (as_of - days, as_of]: accounts and their MRR (kept by
# triggers as snapshots are written: migrations/0009).
BAND_DAYS = """
SELECT day, band, accounts, mrr::float8 AS mrr FROM health_band_days
WHERE project_id = $1 AND day > $2::date - $3::int AND day <= $2 AND accounts > 0
ORDER BY day
"""
# The biggest drops: latest score minus the score of 7 days before (or, for an account without
# that day's snapshot, its oldest one in those 7 days), with the latest snapshot's change
# drivers. $2 is the latest snapshot day.
DROPS_SQL = """
SELECT l.account_id, coalesce(w.day, o.day) AS since,
       l.score - coalesce(w.score, o.score) AS drop, (l.drivers -> 'change')::text AS change_drivers
FROM health_snapshots AS l
LEFT JOIN health_snapshots AS w
       ON w.project_id = $1 AND w.account_id = l.account_id AND w.day = $2::date - $3::int
LEFT JOIN LATERAL (
    SELECT day, score FROM health_snapshots AS h
    WHERE w.day IS NULL AND h.project_id = $1 AND h.account_id = l.account_id
      AND h.day >= $2::date - $3::int AND h.day < $2
    ORDER BY h.day LIMIT 1) AS o ON true
WHERE l.project_id = $1 AND l.day = $2 AND l.score - coalesce(w.score, o.score) < 0
ORDER BY 3, 1
LIMIT $4
"""
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


def _band_days(rows: list[Any]) -> list[BandDay]:
    days: dict[date, dict[str, Any]] = {}
    for row in rows:
        day = days.setdefault(row["day"], {})
        day[row["band"]] = row["accounts"]
        day[f"mrr_{row['band']}"] = round(row["mrr"], 2)
    return [
        BandDay(
            day=day.isoformat(),
            green=counts.get("green", 0),
            yellow=counts.get("yellow", 0),
            red=counts.get("red", 0),
            mrr_green=counts.get("mrr_green", 0.0),
            mrr_yellow=counts.get("mrr_yellow", 0.0),
            mrr_red=counts.get("mrr_red", 0.0),
        )
        for day, counts in days.items()
    ]


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
    drop_rows = await conn.fetch(DROPS_SQL, project_id, as_of, DROP_DAYS, DROPS)
    by_id = {r["account_id"]: r for r in current}
    renewing = sorted(
        (
            r
            for r in current
            if r["days_to_renewal"] is not None
            and 0 <= r["days_to_renewal"] <= max(RENEWAL_WINDOWS)
        ),
        key=lambda r: (r["renewal_date"], r["account_id"]),
    )
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
        bands=_band_days(band_rows),
        current=PortfolioNow(
            accounts=len(current),
            mrr=round(sum(r["mrr"] or 0.0 for r in current), 2),
            by_band=_shares(current),
        ),
        renewals=renewals,
        upcoming_renewals=[summary_of(r) for r in renewing[:UPCOMING]],
        drops=[
            ScoreDrop(
                **msgspec.structs.asdict(summary_of(by_id[r["account_id"]])),
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
    lake: Path | LakeLocation,
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
    params = {"account": account_id, "since": first, "until": today}
    with connect(lake) as db:
        user_source = rollup_source(db, lake, "usage_user", project_id)
        feature_source = rollup_source(db, lake, "usage_feature", project_id)
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
