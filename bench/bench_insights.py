"""Rating insights benchmark: the ratings and change answers over 1,000,000 responses.

A fresh embedded PostgreSQL (migrated) gets ``--responses`` realistic survey responses of one
project (NPS 60% about the product, CSAT 25% over 12 feature surveys, CES 15% over 4 flows,
over ``--days`` days; 5,000 accounts on 4 plans and 3 health bands, 3 locales, 30 pages, a user
trait), and a Survey Shown for 80% of them, loaded with COPY (the rollup triggers of migration
0007 fire as they would for the projector), plus 10% as many rows of a second project, then
VACUUM ANALYZE. Each question is answered
``--runs`` times through the same functions the routes call (``ratings_answer``,
``change_answer``: SQL plus the statistics in Python); p50/p99 are printed with the ratio to a
baseline measured in the same run: a plain ``count(*)`` of the project's NPS rows over the
same year (the least any answer over them must read).

Targets (issue 15): headline NPS by week over a year p99 < 300 ms; a two-dimension drill-down
(plan × feature) p99 < 500 ms. Questions about pages, accounts or user traits read the rows
instead of the daily rollup; one such question is timed too.

Usage: python bench/bench_insights.py [--responses 1000000] [--days 400] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cxloop.db import apply_migrations, database_url_for  # noqa: E402
from cxloop.insights.ratings_controller import (  # noqa: E402
    change_answer,
    change_query,
    ratings_answer,
    ratings_query,
)
from cxloop.insights.ratings_store import Filters  # noqa: E402
from cxloop.projects.service import create_project  # noqa: E402

PLANS = ("free", "starter", "pro", "enterprise")
FEATURES = tuple(f"feature_{i}" for i in range(12))
LOCALES = ("en", "zh-CN", "zh-TW")
BANDS = ("green", "yellow", "red")
KINDS = (("nps", 0.60, 0, 10), ("csat", 0.25, 1, 5), ("ces", 0.15, 1, 7))
UNTIL = date(2026, 11, 30)

BASELINE = """
SELECT count(*) FROM survey_responses
WHERE project_id = $1 AND kind = 'nps' AND responded_at >= $2 AND responded_at < $3
"""


def _kind(rng: random.Random) -> tuple[str, int, int]:
    x = rng.random()
    for kind, share, low, high in KINDS:
        if x < share:
            return kind, low, high
        x -= share
    return KINDS[0][0], KINDS[0][2], KINDS[0][3]


def generate(
    project_id: str, responses: int, days: int, seed: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Response and impression records; accounts keep one plan, band and locale mix."""
    rng = random.Random(seed)
    start = datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=UTC) - timedelta(days=days)
    span = days * 86_400
    accounts = [(f"acct_{i}", PLANS[i % 4], BANDS[(i * 7) % 3]) for i in range(5000)]
    rows: list[tuple[Any, ...]] = []
    shown: list[tuple[Any, ...]] = []
    for i in range(responses):
        account, plan, band = accounts[rng.randrange(len(accounts))]
        kind, low, high = _kind(rng)
        # NPS asks about the product (no feature); each CSAT survey follows one of 12
        # features, each CES survey one of 4 flows (a skewed mix: a few features dominate).
        feature = (
            None
            if kind == "nps"
            else FEATURES[min(11 if kind == "csat" else 3, int(rng.expovariate(0.35)))]
        )
        survey_id = f"srv_{kind}" if feature is None else f"srv_{kind}_{feature}"
        # Ratings lean high, enterprise a little higher; a slow season in the middle.
        at = start + timedelta(seconds=rng.randrange(span))
        lean = 0.15 * PLANS.index(plan) - (0.5 if 150 <= (at - start).days < 170 else 0.0)
        score = max(low, min(high, round(rng.gauss(0.72 + lean / 10, 0.22) * (high - low) + low)))
        if kind == "ces":
            score = high + low - score
        user = f"{account}_u{rng.randrange(8)}"
        locale = LOCALES[0 if rng.random() < 0.5 else 1 + rng.randrange(2)]
        rid = f"{project_id}-r{i}"
        traits = '{"role": "%s"}' % ("admin" if rng.random() < 0.2 else "member")
        rows.append(
            (project_id, rid, survey_id, kind, float(score), None, feature, user, None,
             account, False, rid, at, at, locale, f"/app/page_{rng.randrange(30)}", plan, band,
             traits)
        )  # fmt: skip
        if rng.random() < 0.8:
            shown.append(
                (project_id, f"{rid}-shown", "shown", survey_id, kind, feature, user,
                 account, locale, plan, band, "popover", at - timedelta(seconds=30))
            )  # fmt: skip
    return rows, shown


RESPONSE_COLUMNS = [
    "project_id", "response_id", "survey_id", "kind", "score", "comment", "feature", "user_id",
    "anonymous_id", "account_id", "partial", "message_id", "responded_at", "updated_at",
    "locale", "page_path", "plan", "band", "user_traits",
]  # fmt: skip
IMPRESSION_COLUMNS = [
    "project_id", "message_id", "event", "survey_id", "kind", "feature", "user_id",
    "account_id", "locale", "plan", "band", "detail", "occurred_at",
]  # fmt: skip


async def load(database_url: str, responses: int, days: int) -> tuple[str, dict[str, float]]:
    conn = await asyncpg.connect(database_url)
    timings: dict[str, float] = {}
    try:
        await apply_migrations(conn)
        project = await create_project(conn, "bench")
        other = await create_project(conn, "other")
        # COPY is binary: jsonb's binary form is a version byte, then the JSON text.
        await conn.set_type_codec(
            "jsonb",
            encoder=lambda text: b"\x01" + text.encode(),
            decoder=lambda data: data[1:].decode(),
            schema="pg_catalog",
            format="binary",
        )
        for project_id, count, seed in ((project.id, responses, 1), (other.id, responses // 10, 2)):
            started = time.perf_counter()
            rows, shown = generate(project_id, count, days, seed)
            timings[f"generate_{project_id}"] = time.perf_counter() - started
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "survey_responses", records=rows, columns=RESPONSE_COLUMNS
            )
            await conn.copy_records_to_table(
                "survey_impressions", records=shown, columns=IMPRESSION_COLUMNS
            )
            timings[f"copy_{project_id}"] = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE survey_responses")
        await conn.execute("VACUUM ANALYZE survey_impressions")
        await conn.execute("VACUUM ANALYZE survey_rating_days")
        await conn.execute("VACUUM ANALYZE survey_shown_days")
        timings["vacuum_analyze"] = time.perf_counter() - started
        return project.id, timings
    finally:
        await conn.close()


async def count_baseline(conn: asyncpg.Connection, project_id: str, start: Any, end: Any) -> int:
    # Planned like the answers (ratings_store: a custom plan, no JIT), so the ratio is fair.
    async with conn.transaction(readonly=True):
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off")
        count: int = await conn.fetchval(BASELINE, project_id, start, end)
    return count


async def timed(runs: int, action: Callable[[], Awaitable[object]]) -> dict[str, float]:
    await action()  # warm the cache and the plan
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
        "max_ms": round(times[-1], 1),
    }


async def measure(database_url: str, project_id: str, runs: int) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    since = UNTIL - timedelta(days=364)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=UTC) + timedelta(days=1)
    questions: dict[str, Callable[[], Awaitable[object]]] = {
        "baseline: count(*) of the year's NPS rows": lambda: count_baseline(
            conn, project_id, start, end
        ),
        "headline: NPS by week, a year": lambda: ratings_answer(
            conn, project_id, ratings_query("nps", since, UNTIL, "week")
        ),
        "drill-down: CSAT by month × plan × feature, a year": lambda: ratings_answer(
            conn, project_id, ratings_query("csat", since, UNTIL, "month", "plan,feature")
        ),
        "drill-down: CSAT by week × plan × feature, a year": lambda: ratings_answer(
            conn, project_id, ratings_query("csat", since, UNTIL, "week", "plan,feature")
        ),
        "drill-down: NPS by week × band × locale, a year": lambda: ratings_answer(
            conn, project_id, ratings_query("nps", since, UNTIL, "week", "band,locale")
        ),
        "rows, not rollup: CSAT by week, plan=pro, trait role:admin, a year": lambda: (
            ratings_answer(
                conn,
                project_id,
                ratings_query(
                    "csat",
                    since,
                    UNTIL,
                    "week",
                    None,
                    Filters(plan="pro", traits=(("role", "admin"),)),
                ),
            )
        ),
        "change: CSAT last 90 days vs 90 before, plan × feature against the rest": lambda: (
            change_answer(
                conn,
                project_id,
                change_query(
                    "csat", UNTIL - timedelta(days=89), UNTIL, None, None, "rest", "plan,feature"
                ),
            )
        ),
    }
    results: dict[str, Any] = {}
    try:
        for name, action in questions.items():
            results[name] = await timed(runs, action)
            print(f"  {name}: {results[name]}", flush=True)
        floor_ms = results["baseline: count(*) of the year's NPS rows"]["p50_ms"]
        for figures in results.values():
            figures["ratio_to_baseline_p50"] = round(figures["p50_ms"] / floor_ms, 3)
        results["year_nps_rows"] = await conn.fetchval(BASELINE, project_id, start, end)
    finally:
        await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default=None,
                        help="An empty database to use instead of a fresh embedded one.")  # fmt: skip
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "args": vars(args)}
    with (
        tempfile.TemporaryDirectory(prefix="cxloop-insights-bench-") as tmp_name,
        database_url_for(args.database_url, Path(tmp_name) / "pg") as database_url,
    ):
        print(f"loading {args.responses:,} responses (+ impressions) ...", flush=True)
        started = time.perf_counter()
        project_id, timings = asyncio.run(load(database_url, args.responses, args.days))
        results["load_seconds"] = round(time.perf_counter() - started, 1)
        results["load"] = {k: round(v, 1) for k, v in timings.items()}
        print(f"loaded in {results['load_seconds']} s; answering ...", flush=True)
        results["queries"] = asyncio.run(measure(database_url, project_id, args.runs))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
