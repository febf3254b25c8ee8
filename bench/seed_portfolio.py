"""Seed a project with a large, plausible portfolio straight into PostgreSQL (COPY).

    python bench/seed_portfolio.py --database-url URL --project-id P \\
        --accounts 5000 --days 90 --seed 1

Inserts accounts (traits name, plan, seats, mrr, csm — one of 12 —, renewal_date spread over
the next 400 days, some already past, region), one health snapshot per account per day for
``days`` days ending today (UTC) with scores that drift, a tenth of the accounts falling in the
last week, bands by the default thresholds (green ≥ 60, yellow ≥ 40), components and drivers
shaped like a real refresh's (cxloop.health.score), and about 300 alerts (one per 17 accounts)
in mixed statuses and ages. The project must exist (``cxloop projects create``). Rows of the
project already in those tables are replaced.

``--measure URL --key SK`` then times the Portfolio and Accounts pages' requests over HTTP on
a running server (median and max of ``--repeat``). For the console's benchmarks and these
timings (BENCHMARKS.md); importable:
``await seed(conn, project_id, accounts, days, seed)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

__all__ = ["seed"]

CSMS = (
    "Alice Chen <alice@example.com>", "Bruno Silva <bruno@example.com>",
    "王芳 <wang.fang@example.com>", "Dana Levi <dana@example.com>",
    "Erik Larsen <erik@example.com>", "Fatima Khan <fatima@example.com>",
    "Gao Lei <gao.lei@example.com>", "Hannah Müller <hannah@example.com>",
    "Ivan Petrov <ivan@example.com>", "陳美玲 <chen.meiling@example.com>",
    "Kofi Mensah <kofi@example.com>", "Lucía Gómez <lucia@example.com>",
)  # fmt: skip
PLANS = (("starter", 0.45, 99, 5), ("growth", 0.35, 499, 25), ("enterprise", 0.20, 2400, 120))
REGIONS = ("emea", "amer", "apac")
WEIGHTS = {"adoption": 0.20, "utilisation": 0.20, "depth": 0.15, "trend": 0.20,
           "recency": 0.10, "feedback": 0.15}  # fmt: skip
KEY_FEATURES = ("dashboards", "reports", "alerts", "export", "integrations", "api")
GREEN_AT, YELLOW_AT = 60.0, 40.0
COMMENTS = (
    "Too expensive for what we use", "报表太慢了，经常超时", "Support never answered our ticket",
    "We are evaluating other tools", "導出功能不好用", "Missing the integration we need",
)  # fmt: skip


def _band(score: float) -> str:
    return "green" if score >= GREEN_AT else "yellow" if score >= YELLOW_AT else "red"


def _components(rng: random.Random, score: float, seats: int) -> list[dict[str, Any]]:
    parts = []
    for name, weight in WEIGHTS.items():
        normalised = round(max(0.0, min(100.0, score + rng.gauss(0, 12))), 2)
        used = max(0, min(len(KEY_FEATURES), round(normalised / 100 * len(KEY_FEATURES))))
        details: dict[str, dict[str, Any]] = {
            "adoption": {"used": list(KEY_FEATURES[:used]), "key_features": len(KEY_FEATURES)},
            "utilisation": {"active_users_30d": round(seats * normalised / 100), "seats": seats},
            "depth": {"active_days_28d": round(28 * normalised / 100), "wau_mau": 0.4},
            "trend": {"adjusted_ratio": round(0.5 + normalised / 100, 3), "significant": True},
            "recency": {"days_since_active": max(0, round((100 - normalised) / 5))},
            "feedback": {"promoters": 2, "detractors": 1, "responses": 5, "open_alerts": 0},
        }
        detail = details[name]
        raw = round(normalised / 100, 4)
        parts.append({"name": name, "raw": raw, "normalised": normalised, "weight": weight,
                      "contribution": round(weight * normalised, 2), "detail": detail})  # fmt: skip
    return parts


def _change_drivers(now: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[str]:
    previous = {c["name"]: c["contribution"] for c in before}
    moves = sorted(
        ((float(c["contribution"]) - float(previous[c["name"]]), c["name"]) for c in now),
        key=lambda move: -abs(move[0]),
    )
    return [f"{name} {'+' if delta >= 0 else '−'}{abs(delta):.1f} points"
            for delta, name in moves[:3] if abs(delta) >= 0.5]  # fmt: skip


async def seed(
    conn: asyncpg.Connection, project_id: str, accounts: int, days: int, seed: int
) -> None:
    """Replace the project's accounts, snapshots and alerts with a generated portfolio."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    first_day = today - timedelta(days=days - 1)
    account_rows = []
    snapshot_rows = []
    alert_rows = []
    for n in range(accounts):
        account_id = f"acct_{n:05d}"
        plan, _, base_mrr, base_seats = rng.choices(PLANS, weights=[p[1] for p in PLANS])[0]
        seats = max(1, round(base_seats * rng.uniform(0.5, 2.0)))
        traits: dict[str, Any] = {
            "name": f"Company {n:05d} {rng.choice(['Ltd', 'Inc', 'GmbH', '有限公司'])}",
            "plan": plan,
            "seats": seats,
            "mrr": round(base_mrr * rng.uniform(0.6, 1.8), 2),
            "csm": CSMS[n % len(CSMS)],
            "region": rng.choice(REGIONS),
        }
        if rng.random() < 0.95:  # a few accounts have no renewal date
            traits["renewal_date"] = (today + timedelta(days=rng.randint(-30, 400))).isoformat()
        if n % 50 == 7:
            traits["mrr"] = str(traits["mrr"])  # a string number, read too
        first_seen = datetime.combine(first_day, datetime.min.time(), UTC) - timedelta(days=30)
        account_rows.append(
            (
                project_id,
                account_id,
                json.dumps(traits, ensure_ascii=False),
                "{}",
                now,
                first_seen,
                now,
            )
        )
        score = rng.uniform(25, 95)
        drift = rng.gauss(0, 0.3)
        falls = rng.random() < 0.10
        previous_score: float | None = None
        previous_parts: list[dict[str, Any]] | None = None
        for d in range(days):
            day = first_day + timedelta(days=d)
            step = drift + rng.gauss(0, 1.5)
            if falls and (today - day).days < 7:
                step -= rng.uniform(2, 6)
            score = max(0.0, min(100.0, score + step))
            rounded = round(score, 1)
            parts = _components(rng, rounded, seats)
            low = [f"▼ {c['name']} is low" for c in parts if c["normalised"] < 40]
            drivers = {
                "score": low[:3],
                "change": [] if previous_parts is None else _change_drivers(parts, previous_parts),
            }
            snapshot_rows.append(
                (
                    project_id,
                    account_id,
                    day,
                    rounded,
                    _band(rounded),
                    "low" if n % 40 == 0 else "normal",
                    None if previous_score is None else round(rounded - previous_score, 1),
                    json.dumps(parts, ensure_ascii=False),
                    json.dumps(drivers, ensure_ascii=False),
                    now,
                )
            )
            previous_score, previous_parts = rounded, parts
        if n % 17 == 3:
            age = timedelta(hours=rng.uniform(1, 24 * 60))
            status = rng.choices(("open", "acknowledged", "resolved"), weights=(5, 3, 2))[0]
            opened = now - age
            alert_rows.append(
                (
                    project_id,
                    f"resp_{n:05d}",
                    "srv_nps",
                    "nps",
                    float(rng.randint(0, 6)),
                    rng.choice(COMMENTS),
                    account_id,
                    f"user_{n:05d}_1",
                    opened,
                    status,
                    CSMS[n % len(CSMS)] if status != "open" else None,
                    opened,
                    now,
                    now if status == "resolved" else None,
                )
            )
    async with conn.transaction():
        for table in ("alerts", "health_snapshots", "accounts"):
            await conn.execute(f"DELETE FROM {table} WHERE project_id = $1", project_id)
        await conn.copy_records_to_table(
            "accounts",
            records=account_rows,
            columns=[
                "project_id",
                "account_id",
                "traits",
                "trait_timestamps",
                "traits_updated_at",
                "first_seen_at",
                "last_seen_at",
            ],
        )
        snapshot_rows.sort(key=lambda row: row[2])  # by day, stable: accounts in order
        await conn.copy_records_to_table(
            "health_snapshots",
            records=snapshot_rows,
            columns=[
                "project_id",
                "account_id",
                "day",
                "score",
                "band",
                "confidence",
                "change",
                "components",
                "drivers",
                "computed_at",
            ],
        )
        await conn.copy_records_to_table(
            "alerts",
            records=alert_rows,
            columns=[
                "project_id",
                "response_id",
                "survey_id",
                "kind",
                "score",
                "comment",
                "account_id",
                "user_id",
                "responded_at",
                "status",
                "assignee",
                "opened_at",
                "updated_at",
                "resolved_at",
            ],
        )
    # As the daily refresh writes them: one day's snapshots together. Then what autovacuum
    # would do soon after a bulk insert (statistics, and the visibility map index-only scans
    # rely on).
    for table in ("accounts", "health_snapshots", "alerts"):
        await conn.execute(f"VACUUM (ANALYZE) {table}")


# What --measure times: the console's first requests of its Portfolio and Accounts pages.
MEASURED = (
    ("portfolio", "/v1/portfolio", {}),
    ("accounts page (-score)", "/v1/accounts", {"limit": "50", "sort": "-score"}),
    ("accounts page (renewal)", "/v1/accounts", {"limit": "50", "sort": "renewal"}),
    ("accounts filtered", "/v1/accounts",
     {"limit": "50", "sort": "-mrr", "band": "red", "renewal_within": "90", "q": "company"}),
    ("accounts 5th page (-mrr)", "/v1/accounts", {"limit": "50", "sort": "-mrr", "pages": "5"}),
)  # fmt: skip


def measure(url: str, key: str, repeat: int) -> None:
    """Median and worst wall time of each request over HTTP (keep-alive, after one warm-up)."""
    import statistics
    import time

    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        for label, path, given in MEASURED:
            params = dict(given)
            pages = int(params.pop("pages", "1"))
            if pages > 1:  # follow the cursor to the page, then time that page
                for _ in range(pages - 1):
                    params["cursor"] = client.get(path, params=params).json()["next_cursor"]
            client.get(path, params=params).raise_for_status()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(path, params=params).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"{label:28} median {statistics.median(times):6.1f} ms   "
                f"max {max(times):6.1f} ms   ({repeat} requests)"
            )


async def _main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.database_url)
    try:
        if not args.no_seed:
            started = datetime.now(UTC)
            await seed(conn, args.project_id, args.accounts, args.days, args.seed)
            seconds = (datetime.now(UTC) - started).total_seconds()
            print(
                f"seeded {args.accounts} accounts × {args.days} days into {args.project_id} "
                f"in {seconds:.1f} s"
            )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--project-id", required=True)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-seed", action="store_true", help="only --measure")
    parser.add_argument(
        "--measure", metavar="URL", help="then time the console's requests on this server"
    )
    parser.add_argument("--key", help="the project's secret key (for --measure)")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(_main(args))
    if args.measure:
        if not args.key:
            parser.error("--measure needs --key")
        measure(args.measure, args.key, args.repeat)


if __name__ == "__main__":
    main()
