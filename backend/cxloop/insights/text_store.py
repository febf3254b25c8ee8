"""SQL of the comment-analysis routes: topics, distinctive terms, suggested topics, verbatims.

Every query shares one filter (``TextFilters``: period, survey context, the comment's analysis,
segment and score range), as parameters $1–$17; route-specific parameters follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
import msgspec

from cxloop.db import Connection

__all__ = [
    "TextFilters",
    "TopicCounts",
    "comment_tokens",
    "overall_counts",
    "term_counts",
    "topic_counts",
    "verbatims",
]


class TextFilters(msgspec.Struct, frozen=True):
    """What the comment routes are asked about; None filters nothing. ``until`` is inclusive."""

    since: date | None = None
    until: date | None = None
    kind: str | None = None
    survey: str | None = None
    feature: str | None = None
    plan: str | None = None
    band: str | None = None
    locale: str | None = None
    account: str | None = None
    language: str | None = None
    sentiment: str | None = None
    topic: str | None = None
    churn_intent: bool | None = None
    segment: str | None = None
    score_min: float | None = None
    score_max: float | None = None

    def args(self, project_id: str) -> list[Any]:
        """$1–$17 of ``_FILTERS``: whole UTC days from ``since`` through ``until``."""
        start = None if self.since is None else datetime.combine(self.since, time(), UTC)
        end = (
            None
            if self.until is None
            else datetime.combine(self.until + timedelta(days=1), time(), UTC)
        )
        return [
            project_id, start, end, self.kind, self.survey, self.feature, self.plan, self.band,
            self.locale, self.account, self.language, self.sentiment, self.topic,
            self.churn_intent, self.segment, self.score_min, self.score_max,
        ]  # fmt: skip


_FILTERS = """
r.project_id = $1
AND ($2::timestamptz IS NULL OR r.responded_at >= $2)
AND ($3::timestamptz IS NULL OR r.responded_at < $3)
AND ($4::text IS NULL OR r.kind = $4)
AND ($5::text IS NULL OR r.survey_id = $5)
AND ($6::text IS NULL OR r.feature = $6)
AND ($7::text IS NULL OR r.plan = $7)
AND ($8::text IS NULL OR r.band = $8)
AND ($9::text IS NULL OR r.locale = $9)
AND ($10::text IS NULL OR r.account_id = $10)
AND ($11::text IS NULL OR r.language = $11)
AND ($12::text IS NULL OR r.sentiment = $12)
AND ($13::text IS NULL OR $13 = any(r.topics))
AND ($14::bool IS NULL OR r.churn_intent = $14)
AND ($15::text IS NULL OR r.segment = $15)
AND ($16::float8 IS NULL OR r.score >= $16)
AND ($17::float8 IS NULL OR r.score <= $17)
"""

# $18: the rating kind whose metric is computed.
OVERALL = f"""
SELECT count(*) FILTER (WHERE r.analysis_version IS NOT NULL AND r.comment IS NOT NULL)
           AS comments,
       count(*) FILTER (WHERE r.kind = $18 AND r.score IS NOT NULL) AS responses,
       count(*) FILTER (WHERE r.kind = $18 AND r.segment = 'promoter') AS promoters,
       count(*) FILTER (WHERE r.kind = $18 AND r.segment = 'detractor') AS detractors
FROM survey_responses AS r
WHERE {_FILTERS}
"""  # noqa: S608 - a fixed fragment
TOPICS = f"""
SELECT t.topic,
       count(*) AS comments,
       count(*) FILTER (WHERE r.sentiment = 'positive') AS positive,
       count(*) FILTER (WHERE r.sentiment = 'negative') AS negative,
       count(*) FILTER (WHERE r.sentiment = 'neutral') AS neutral,
       count(*) FILTER (WHERE r.sentiment = 'mixed') AS mixed,
       count(*) FILTER (WHERE r.kind = $18 AND r.score IS NOT NULL) AS responses,
       count(*) FILTER (WHERE r.kind = $18 AND r.segment = 'promoter') AS promoters,
       count(*) FILTER (WHERE r.kind = $18 AND r.segment = 'passive') AS passives,
       count(*) FILTER (WHERE r.kind = $18 AND r.segment = 'detractor') AS detractors,
       avg(r.score) FILTER (WHERE r.kind = $18 AND r.score IS NOT NULL) AS mean,
       var_samp(r.score) FILTER (WHERE r.kind = $18 AND r.score IS NOT NULL) AS variance
FROM survey_responses AS r
CROSS JOIN LATERAL unnest(r.topics) AS t(topic)
WHERE {_FILTERS} AND r.analysis_version IS NOT NULL AND r.comment IS NOT NULL
GROUP BY t.topic
"""  # noqa: S608 - a fixed fragment
TERMS = f"""
SELECT t.term,
       count(*) FILTER (WHERE r.segment = 'detractor') AS detractors,
       count(*) FILTER (WHERE r.segment = 'promoter') AS promoters,
       count(*) AS total
FROM survey_responses AS r
CROSS JOIN LATERAL unnest(r.tokens) AS t(term)
WHERE {_FILTERS} AND r.analysis_version IS NOT NULL AND r.comment IS NOT NULL
GROUP BY t.term
"""  # noqa: S608 - a fixed fragment
SEGMENT_COMMENTS = f"""
SELECT count(*) FILTER (WHERE r.segment = 'detractor') AS detractors,
       count(*) FILTER (WHERE r.segment = 'promoter') AS promoters
FROM survey_responses AS r
WHERE {_FILTERS} AND r.analysis_version IS NOT NULL AND r.comment IS NOT NULL
"""  # noqa: S608 - a fixed fragment
# $18: at most this many comments, the newest.
TOKENS = f"""
SELECT r.tokens
FROM survey_responses AS r
WHERE {_FILTERS} AND r.analysis_version IS NOT NULL AND r.comment IS NOT NULL
ORDER BY r.responded_at DESC
LIMIT $18
"""  # noqa: S608 - a fixed fragment
# $18/$19: the keyset (responded_at, response_id) of the last verbatim shown; $20 the limit.
VERBATIMS = f"""
SELECT r.response_id, r.responded_at, r.survey_id, r.kind, r.score, r.segment, r.comment,
       r.account_id, r.user_id, r.feature, r.plan, r.band, r.locale,
       r.analysis_version IS NOT NULL AS analysed, r.language, r.sentiment, r.sentiment_score,
       r.agreement, r.churn_intent, r.topics, r.competitors, r.keywords
FROM survey_responses AS r
WHERE {_FILTERS} AND r.comment IS NOT NULL
  AND ($18::timestamptz IS NULL OR (r.responded_at, r.response_id) < ($18, $19::text))
ORDER BY r.responded_at DESC, r.response_id DESC
LIMIT $20
"""  # noqa: S608 - a fixed fragment


@dataclass(frozen=True)
class TopicCounts:
    comments: int
    positive: int
    negative: int
    neutral: int
    mixed: int
    responses: int
    promoters: int
    passives: int
    detractors: int
    mean: float | None
    variance: float | None


@dataclass(frozen=True)
class OverallCounts:
    comments: int
    responses: int
    promoters: int
    detractors: int


async def overall_counts(
    conn: Connection, project_id: str, filters: TextFilters, kind: str
) -> OverallCounts:
    row = await conn.fetchrow(OVERALL, *filters.args(project_id), kind)
    assert row is not None
    return OverallCounts(row["comments"], row["responses"], row["promoters"], row["detractors"])


async def topic_counts(
    conn: Connection, project_id: str, filters: TextFilters, kind: str
) -> dict[str, TopicCounts]:
    rows = await conn.fetch(TOPICS, *filters.args(project_id), kind)
    return {
        row["topic"]: TopicCounts(
            comments=row["comments"],
            positive=row["positive"],
            negative=row["negative"],
            neutral=row["neutral"],
            mixed=row["mixed"],
            responses=row["responses"],
            promoters=row["promoters"],
            passives=row["passives"],
            detractors=row["detractors"],
            mean=None if row["mean"] is None else float(row["mean"]),
            variance=None if row["variance"] is None else float(row["variance"]),
        )
        for row in rows
    }


async def term_counts(
    conn: Connection, project_id: str, filters: TextFilters
) -> tuple[dict[str, int], dict[str, int], dict[str, int], int, int]:
    """Token occurrences in detractors' comments, promoters', everyone's (the prior), and
    how many comments each side has."""
    args = filters.args(project_id)
    rows = await conn.fetch(TERMS, *args)
    sides = await conn.fetchrow(SEGMENT_COMMENTS, *args)
    assert sides is not None
    detractors = {r["term"]: r["detractors"] for r in rows if r["detractors"]}
    promoters = {r["term"]: r["promoters"] for r in rows if r["promoters"]}
    prior = {r["term"]: r["total"] for r in rows}
    return detractors, promoters, prior, sides["detractors"], sides["promoters"]


async def comment_tokens(
    conn: Connection, project_id: str, filters: TextFilters, limit: int
) -> list[list[str]]:
    rows = await conn.fetch(TOKENS, *filters.args(project_id), limit)
    return [list(row["tokens"] or []) for row in rows]


async def verbatims(
    conn: Connection,
    project_id: str,
    filters: TextFilters,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[asyncpg.Record]:
    after_time, after_id = after if after is not None else (None, None)
    return await conn.fetch(VERBATIMS, *filters.args(project_id), after_time, after_id, limit)
