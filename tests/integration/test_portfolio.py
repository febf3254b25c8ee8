"""``GET /v1/portfolio``: a seeded portfolio (bench/seed_portfolio.py) answered as the numbers
the snapshots, the accounts' traits and the alerts say, recomputed here in Python."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bench.seed_portfolio import seed
from tests.helpers.people import add_person, fetch, make_session, session_headers
from tests.helpers.server import Project, RunningServer, create_project

ACCOUNTS, DAYS = 120, 30


@pytest.fixture(scope="module")
def seeded(server: RunningServer, project: Project, module_database_url: str) -> Project:
    async def work() -> None:
        conn = await asyncpg.connect(module_database_url)
        try:
            await seed(conn, project.id, ACCOUNTS, DAYS, 7)
        finally:
            await conn.close()

    asyncio.run(work())
    return project


def _get(server: RunningServer, project: Project, **params: Any) -> dict[str, Any]:
    with server.client(headers=project.bearer) as client:
        answer = client.get("/v1/portfolio", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _latest(url: str, project_id: str) -> list[dict[str, Any]]:
    return fetch(
        url,
        """SELECT s.account_id, s.score, s.band, s.day, a.mrr::float8 AS mrr, a.renewal_date
           FROM health_snapshots s JOIN accounts a USING (project_id, account_id)
           WHERE s.project_id = $1
             AND s.day = (SELECT max(day) FROM health_snapshots WHERE project_id = $1)""",
        project_id,
    )


def test_band_history_and_current(
    seeded: Project, server: RunningServer, module_database_url: str
) -> None:
    body = _get(server, seeded, days=14)
    today = datetime.now(UTC).date()
    assert body["as_of"] == today.isoformat()
    assert [row["day"] for row in body["bands"]] == [
        (today - timedelta(days=13 - i)).isoformat() for i in range(14)
    ]
    snapshots = fetch(
        module_database_url,
        """SELECT s.day, s.band, a.mrr::float8 AS mrr FROM health_snapshots s
           JOIN accounts a USING (project_id, account_id) WHERE s.project_id = $1""",
        seeded.id,
    )
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    mrr: dict[tuple[date, str], float] = defaultdict(float)
    for row in snapshots:
        counts[row["day"]][row["band"]] += 1
        mrr[row["day"], row["band"]] += row["mrr"] or 0.0
    for row in body["bands"]:
        day = date.fromisoformat(row["day"])
        for band in ("green", "yellow", "red"):
            assert row[band] == counts[day][band]
            assert row[f"mrr_{band}"] == pytest.approx(mrr[day, band], abs=0.01)
        assert row["green"] + row["yellow"] + row["red"] == ACCOUNTS
    latest = _latest(module_database_url, seeded.id)
    assert body["current"]["accounts"] == ACCOUNTS
    assert body["current"]["mrr"] == pytest.approx(sum(r["mrr"] for r in latest), abs=0.05)
    by_band = {b["band"]: b for b in body["current"]["by_band"]}
    assert sum(b["accounts"] for b in by_band.values()) == ACCOUNTS
    assert by_band["red"]["accounts"] == sum(r["band"] == "red" for r in latest)


def test_renewals(seeded: Project, server: RunningServer, module_database_url: str) -> None:
    body = _get(server, seeded)
    today = datetime.now(UTC).date()
    latest = _latest(module_database_url, seeded.id)
    assert [w["within_days"] for w in body["renewals"]] == [30, 60, 90]
    for window in body["renewals"]:
        inside = [
            r
            for r in latest
            if r["renewal_date"] is not None
            and 0 <= (r["renewal_date"] - today).days <= window["within_days"]
        ]
        assert window["accounts"] == len(inside)
        assert window["mrr"] == pytest.approx(sum(r["mrr"] for r in inside), abs=0.05)
        assert sum(b["accounts"] for b in window["by_band"]) == len(inside)
    upcoming = body["upcoming_renewals"]
    assert 0 < len(upcoming) <= 25
    keys = [(u["renewal_date"], u["account_id"]) for u in upcoming]
    assert keys == sorted(keys)
    assert all(0 <= u["days_to_renewal"] <= 90 for u in upcoming)
    soonest = sorted(
        (r["renewal_date"].isoformat(), r["account_id"])
        for r in latest
        if r["renewal_date"] is not None and 0 <= (r["renewal_date"] - today).days <= 90
    )[:25]
    assert keys == soonest


def test_drops(seeded: Project, server: RunningServer, module_database_url: str) -> None:
    body = _get(server, seeded)
    today = datetime.now(UTC).date()
    rows = fetch(
        module_database_url,
        "SELECT account_id, day, score FROM health_snapshots WHERE project_id = $1 "
        "AND day >= $2 ORDER BY day",
        seeded.id,
        today - timedelta(days=7),
    )
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for row in rows:
        if row["day"] < today:
            first.setdefault(row["account_id"], row["score"])
        else:
            last[row["account_id"]] = row["score"]
    drops = sorted((last[a] - first[a], a) for a in last if last[a] - first[a] < 0)[:10]
    assert [d["account_id"] for d in body["drops"]] == [a for _, a in drops]
    for answer, (drop, _) in zip(body["drops"], drops, strict=True):
        assert answer["drop"] == pytest.approx(drop, abs=0.01)
        assert answer["since"] == (today - timedelta(days=7)).isoformat()
        assert len(answer["change_drivers"]) <= 3
    assert any(d["change_drivers"] for d in body["drops"])


def test_alerts_by_age(seeded: Project, server: RunningServer, module_database_url: str) -> None:
    body = _get(server, seeded)
    rows = fetch(
        module_database_url,
        "SELECT status, now() - opened_at AS age FROM alerts WHERE project_id = $1",
        seeded.id,
    )

    def bucket(age: timedelta) -> str:
        if age < timedelta(days=1):
            return "<1d"
        if age < timedelta(days=7):
            return "1-7d"
        return "7-30d" if age < timedelta(days=30) else ">30d"

    expected = Counter((bucket(r["age"]), r["status"]) for r in rows)
    assert [b["bucket"] for b in body["alerts_by_age"]] == ["<1d", "1-7d", "7-30d", ">30d"]
    for b in body["alerts_by_age"]:
        assert b["open"] == expected[b["bucket"], "open"]
        assert b["in_progress"] == expected[b["bucket"], "acknowledged"]
    assert sum(b["open"] + b["in_progress"] for b in body["alerts_by_age"]) > 0


def test_empty_project_is_zeros(server: RunningServer, module_database_url: str) -> None:
    empty = create_project(module_database_url, "empty-portfolio")
    body = _get(server, empty)
    assert body["as_of"] is None
    assert body["bands"] == [] and body["drops"] == [] and body["upcoming_renewals"] == []
    assert body["current"] == {
        "accounts": 0,
        "mrr": 0.0,
        "by_band": [{"band": b, "accounts": 0, "mrr": 0.0} for b in ("green", "yellow", "red")],
    }
    assert all(w["accounts"] == 0 for w in body["renewals"])
    assert all(b["open"] == 0 and b["in_progress"] == 0 for b in body["alerts_by_age"])


def test_days_bounds_and_viewer(
    seeded: Project, server: RunningServer, module_database_url: str
) -> None:
    with server.client(headers=seeded.bearer) as client:
        for days in (6, 366):
            assert client.get("/v1/portfolio", params={"days": days}).status_code == 400
    viewer = add_person(module_database_url, seeded.id, "viewer-portfolio@example.com", "viewer")
    cookie = make_session(module_database_url, viewer)
    with server.client(headers=session_headers(cookie, seeded.id)) as client:
        assert client.get("/v1/portfolio").status_code == 200
    with server.client() as client:
        assert client.get("/v1/portfolio").status_code == 401


def test_band_history_follows_rewrites_and_purges(
    seeded: Project, server: RunningServer, module_database_url: str
) -> None:
    """The per-day band counts are kept by triggers: a rewritten snapshot (a refresh's upsert)
    moves between bands with the MRR it now records, a purged account leaves every day."""
    today = datetime.now(UTC).date()

    async def work() -> None:
        conn = await asyncpg.connect(module_database_url)
        try:
            await conn.execute(
                "UPDATE accounts SET traits = traits || '{\"mrr\": 12345}' "
                "WHERE project_id = $1 AND account_id = 'acct_00001'",
                seeded.id,
            )
            await conn.execute(
                """INSERT INTO health_snapshots (project_id, account_id, day, score, band,
                       confidence, change, components, drivers)
                   VALUES ($1, 'acct_00001', $2, 5, 'red', 'normal', null, '[]',
                           '{"score": [], "change": []}')
                   ON CONFLICT (project_id, account_id, day) DO UPDATE
                   SET score = EXCLUDED.score, band = EXCLUDED.band""",
                seeded.id,
                today,
            )
            await conn.execute(
                "DELETE FROM health_snapshots WHERE project_id = $1 AND account_id = 'acct_00002'",
                seeded.id,
            )
        finally:
            await conn.close()

    asyncio.run(work())
    body = _get(server, seeded, days=DAYS)
    rows = fetch(
        module_database_url,
        "SELECT day, band, count(*) AS n, coalesce(sum(mrr), 0)::float8 AS mrr "
        "FROM health_snapshots WHERE project_id = $1 GROUP BY 1, 2",
        seeded.id,
    )
    expected = {(r["day"].isoformat(), r["band"]): (r["n"], r["mrr"]) for r in rows}
    assert len(body["bands"]) == DAYS
    for row in body["bands"]:
        for band in ("green", "yellow", "red"):
            n, mrr = expected.get((row["day"], band), (0, 0.0))
            assert row[band] == n
            assert row[f"mrr_{band}"] == pytest.approx(mrr, abs=0.01)
        assert row["green"] + row["yellow"] + row["red"] == ACCOUNTS - 1
    last = body["bands"][-1]
    assert last["mrr_red"] >= 12345
    older = fetch(
        module_database_url,
        "SELECT mrr::float8 AS mrr FROM health_snapshots WHERE project_id = $1 "
        "AND account_id = 'acct_00001' AND day < $2",
        seeded.id,
        today,
    )
    assert older and all(r["mrr"] != 12345 for r in older)  # history keeps its own MRR
