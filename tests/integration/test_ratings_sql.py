"""PostgreSQL's rating segments against the one Python definition (cxloop.surveys.ratings):
the SQL function alerts and the health feedback call, for every kind and score."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from cxloop.health.service import project_inputs
from cxloop.projects.service import create_project
from cxloop.surveys.ratings import KINDS, SCALES, Kind, segment_of


def _scores(kind: Kind) -> list[float]:
    """Every score the kind offers, the halves between them and a step beyond each end."""
    scale = SCALES[kind]
    return [x / 2 for x in range(2 * scale.lowest - 2, 2 * scale.highest + 3)]


async def test_the_sql_function_is_segment_of_for_every_kind_and_score(
    conn: asyncpg.Connection,
) -> None:
    pairs = [(kind, score) for kind in KINDS for score in _scores(kind)]
    rows = await conn.fetch(
        "SELECT k, s, cxloop_survey_segment(k, s) AS segment "
        "FROM unnest($1::text[], $2::float8[]) WITH ORDINALITY AS t(k, s, n) ORDER BY n",
        [kind for kind, _ in pairs],
        [score for _, score in pairs],
    )
    assert [(row["k"], row["s"]) for row in rows] == pairs
    mismatches = [
        (row["k"], row["s"], row["segment"])
        for row in rows
        if row["segment"] != segment_of(row["k"], row["s"])
    ]
    assert mismatches == []


@pytest.mark.parametrize(("kind", "score"), [("nps", None), ("stars", 3.0), (None, 3.0)])
async def test_no_segment_without_a_rating_kind_and_a_score(
    conn: asyncpg.Connection, kind: str | None, score: float | None
) -> None:
    assert await conn.fetchval("SELECT cxloop_survey_segment($1, $2)", kind, score) is None


async def test_the_responses_table_takes_exactly_the_rating_kinds(
    conn: asyncpg.Connection,
) -> None:
    insert = (
        "INSERT INTO survey_responses (project_id, response_id, kind, score, partial, "
        "message_id, responded_at, updated_at) VALUES ('p', $1, $2, 1, false, $1, now(), now())"
    )
    for kind in KINDS:
        await conn.execute(insert, f"r_{kind}", kind)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(insert, "r_stars", "stars")


async def test_the_health_feedback_counts_segments_as_segment_of_does(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    project = await create_project(conn, "acme")
    # Fractional scores too: ingest accepts any number in range (thumbs 0.5 is passive).
    ratings = [
        (kind, score)
        for kind in KINDS
        for score in _scores(kind)
        if SCALES[kind].lowest <= score <= SCALES[kind].highest
    ]
    now = datetime.now(UTC)
    await conn.executemany(
        "INSERT INTO survey_responses (project_id, response_id, survey_id, kind, score, "
        "account_id, partial, message_id, responded_at, updated_at) "
        "VALUES ($1, $2, 's', $3, $4, 'acc_1', false, $2, $5, $5)",
        [(project.id, f"r{n}", kind, score, now) for n, (kind, score) in enumerate(ratings)],
    )
    inputs, _ = await project_inputs(conn, tmp_path, project.id, now.date())
    (account,) = inputs
    expected = Counter(segment_of(kind, score) for kind, score in ratings)
    assert account.account_id == "acc_1"
    assert (account.promoters, account.passives, account.detractors) == (
        expected["promoter"],
        expected["passive"],
        expected["detractor"],
    )
    assert expected["passive"] > 0 and expected["promoter"] > 0 and expected["detractor"] > 0
