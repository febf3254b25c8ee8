"""A score history from the lake (`cxloop score --backfill`, and what `cxloop demo` charts): a
backfilled day's snapshot is what a refresh on that day computed, from a lake that held only
the events up to that day — later usage, responses and the alerts they opened do not leak in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from cxloop.demo.simulation import SimConfig, generate
from cxloop.health.service import backfill_project, refresh_project
from tests.helpers.processes import run_cli
from tests.helpers.server import Project, RunningServer, create_project

NOW = datetime.now(UTC).replace(hour=23, minute=0, second=0, microsecond=0) - timedelta(days=1)
TODAY = NOW.date()
# The day compared: the last days after it bring usage, ratings and alerts of their own.
DAY = TODAY - timedelta(days=6)


def _events() -> list[dict[str, Any]]:
    """A simulated portfolio whose seats never change (traits are stored as they are now: a
    backfill cannot see yesterday's seats, so the comparison leaves them out)."""
    population = generate(SimConfig(accounts=24, days=40, seed=5, now=NOW))
    events = list(population.events())
    seats = {a.account_id: a.traits["seats"] for a in population.accounts}
    for event in events:
        if event["type"] == "group":
            event["traits"] = {**event["traits"], "seats": seats[event["groupId"]]}
    return events


def _send(server: RunningServer, project: Project, events: list[dict[str, Any]]) -> None:
    with server.client(headers=project.basic_auth) as client:
        for start in range(0, len(events), 500):
            answer = client.post("/v1/batch", json={"batch": events[start : start + 500]})
            assert answer.status_code == 200 and not answer.json()["rejected"], answer.text
    with server.client(headers=project.bearer, timeout=180) as client:
        refreshed = client.post("/v1/health/refresh")  # waits for the pipeline
        assert refreshed.status_code == 200, refreshed.text


_SNAPSHOTS = """
SELECT account_id, score, band, confidence, change, components::text, drivers::text
FROM health_snapshots WHERE project_id = $1 AND day = $2 ORDER BY account_id
"""


@pytest.fixture(scope="module")
def two_lakes(server: RunningServer, module_database_url: str) -> tuple[Project, Project]:
    """The same portfolio twice: ``everything`` up to today, ``then`` only up to DAY."""
    events = _events()
    everything = create_project(module_database_url, "everything")
    then = create_project(module_database_url, "then")
    cutoff = (DAY + timedelta(days=1)).isoformat()
    _send(server, everything, events)
    _send(server, then, [e for e in events if e["timestamp"] < cutoff])
    return everything, then


def test_a_backfilled_day_is_what_a_refresh_that_day_computed(
    server: RunningServer, module_database_url: str, two_lakes: tuple[Project, Project]
) -> None:
    everything, then = two_lakes
    lake = server.data_dir / "lake"

    async def work() -> tuple[list[Any], list[Any], list[Any], int]:
        conn = await asyncpg.connect(module_database_url)
        try:
            reports = await backfill_project(conn, lake, everything.id, 10, until=TODAY)
            # The refreshes the other project had on the two days, with only their lake.
            for day in (DAY - timedelta(days=1), DAY):
                await refresh_project(conn, lake, then.id, day)
            backfilled = await conn.fetch(_SNAPSHOTS, everything.id, DAY)
            refreshed = await conn.fetch(_SNAPSHOTS, then.id, DAY)
            today = await conn.fetch(_SNAPSHOTS, everything.id, TODAY)
            days = await conn.fetchval(
                "SELECT count(DISTINCT day) FROM health_snapshots "
                "WHERE project_id = $1 AND day BETWEEN $2 AND $3",
                everything.id,
                TODAY - timedelta(days=9),
                TODAY,
            )
            assert [r.as_of for r in reports] == [
                TODAY - timedelta(days=back) for back in range(9, -1, -1)
            ]
            return list(backfilled), list(refreshed), list(today), int(days)
        finally:
            await conn.close()

    backfilled, refreshed, today, days = asyncio.run(work())
    assert days == 10
    assert len(backfilled) >= 20
    assert [tuple(r) for r in backfilled] == [tuple(r) for r in refreshed]
    # Every day has its change against the day before, and the week since moved scores.
    assert all(r["change"] is not None for r in backfilled)
    assert [tuple(r) for r in today] != [tuple(r) for r in backfilled]


def test_the_cli_backfills_days_up_to_as_of(
    server: RunningServer, module_database_url: str, two_lakes: tuple[Project, Project]
) -> None:
    _, then = two_lakes
    until = DAY
    done = run_cli(
        {**server.env, "CXLOOP_DATABASE_URL": module_database_url},
        "score", "--project", then.id, "--backfill", "3", "--as-of", until.isoformat(),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "accounts scored as of" in line]
    assert [line.split("as of ")[1].split()[0] for line in lines] == [
        (until - timedelta(days=back)).isoformat() for back in (2, 1, 0)
    ]
