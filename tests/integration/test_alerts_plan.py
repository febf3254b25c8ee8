"""The projection's alert statement reads only the batch's responses, whatever the table holds."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from cxloop.alerts.store import OPEN_ALERTS
from cxloop.projects.service import create_project


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


async def test_open_alerts_looks_up_each_response_instead_of_reading_the_table(
    conn: asyncpg.Connection,
) -> None:
    # bench/bench_pipeline_growth.py: a hash join over every response made the statement's
    # cost grow with the table (68 µs of PostgreSQL CPU per projected event by the second
    # slice, against 9.5 with a key lookup per response).
    project = await create_project(conn, "acme")
    await conn.execute(
        "INSERT INTO survey_responses (project_id, response_id, kind, score, partial, "
        "message_id, responded_at, updated_at) "
        "SELECT $1, 'r' || i, 'nps', i % 11, false, 'm' || i, now(), now() "
        "FROM generate_series(1, 20000) AS i",
        project.id,
    )
    await conn.execute("ANALYZE survey_responses")
    ids = [f"r{i}" for i in range(1, 20000, 20)]  # a batch of 1,000 responses
    async with conn.transaction():
        rows = await conn.fetch(OPEN_ALERTS, [project.id] * len(ids), ids, [False] * len(ids))
        plan = json.loads(
            await conn.fetchval(
                "EXPLAIN (FORMAT JSON) " + OPEN_ALERTS,
                [project.id] * len(ids),
                ids,
                [False] * len(ids),
            )
        )[0]["Plan"]
    scans = _scans(plan)
    assert ("Seq Scan", "survey_responses") not in scans, scans
    assert ("Index Scan", "survey_responses") in scans, scans
    # The detractors of the batch (scores 0-6 of 0-10) opened their alerts.
    assert len(rows) == sum(1 for i in range(1, 20000, 20) if i % 11 <= 6)
