"""Ratings and impressions aggregated per period and group, in PostgreSQL.

One fixed statement per table: what to group by and filter on arrives as parameters (a
dimension's name chooses a column inside a ``CASE``), so no SQL is ever built from a request.
The segment of a rating is the ``segment`` column (``cxloop_survey_segment``, the SQL copy of
``cxloop.surveys.ratings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal

from cxloop.db import Connection
from cxloop.insights.stats import Counts

__all__ = [
    "DIMENSIONS",
    "Dimension",
    "Filters",
    "GroupKey",
    "Period",
    "count_ratings",
    "count_shown",
]

# Dimensions a request may group by or filter on (plus ``trait:<key>`` / ``trait=<key>:<v>``).
DIMENSIONS: Final = ("survey", "feature", "plan", "band", "locale", "page", "account")
Period = Literal["day", "week", "month", "all"]


@dataclass(frozen=True)
class Dimension:
    """A column to group by: one of DIMENSIONS, or ``trait`` with the user trait's key."""

    name: str
    trait: str | None = None

    @property
    def label(self) -> str:
        return f"trait:{self.trait}" if self.name == "trait" else self.name


@dataclass(frozen=True)
class Filters:
    """Equality filters; None is "any". Traits: every (key, value) must match."""

    survey: str | None = None
    feature: str | None = None
    plan: str | None = None
    band: str | None = None
    locale: str | None = None
    page: str | None = None
    account: str | None = None
    traits: tuple[tuple[str, str], ...] = field(default=())


# (period start or None for "all", first group value, second group value)
GroupKey = tuple[date | None, str | None, str | None]


def _group(column_of: str, dimension: int) -> str:
    """The CASE choosing the value of group ``dimension`` (1 or 2) by its parameter."""
    name, key = (6, 7) if dimension == 1 else (8, 9)
    return f"""CASE ${name}::text
        WHEN 'survey' THEN {column_of}survey_id WHEN 'feature' THEN {column_of}feature
        WHEN 'plan' THEN {column_of}plan WHEN 'band' THEN {column_of}band
        WHEN 'locale' THEN {column_of}locale WHEN 'page' THEN {column_of}page_path
        WHEN 'account' THEN {column_of}account_id
        WHEN 'trait' THEN {column_of}user_traits ->> ${key}::text END"""


# $10..$18: the filters; traits as two parallel arrays (key, value).
_FILTERS = """
  AND ($10::text IS NULL OR x.survey_id = $10) AND ($11::text IS NULL OR x.feature = $11)
  AND ($12::text IS NULL OR x.plan = $12) AND ($13::text IS NULL OR x.band = $13)
  AND ($14::text IS NULL OR x.locale = $14) AND ($15::text IS NULL OR x.page_path = $15)
  AND ($16::text IS NULL OR x.account_id = $16)
  AND (cardinality($17::text[]) = 0 OR NOT EXISTS (
      SELECT 1 FROM unnest($17::text[], $18::text[]) AS f(key, value)
      WHERE (x.user_traits ->> f.key) IS DISTINCT FROM f.value))
"""

# $1 project, $2 kind, [$3, $4) the time range, $5 the period unit (day | week | month) or
# NULL for the whole range, $6..$9 the two group dimensions (name, trait key; NULL: none).
RATINGS = f"""
SELECT CASE WHEN $5::text IS NULL THEN NULL
            ELSE date_trunc($5::text, x.responded_at, 'UTC')::date END AS period,
       {_group("x.", 1)} AS group_1,
       {_group("x.", 2)} AS group_2,
       count(*) AS n,
       count(*) FILTER (WHERE x.segment = 'promoter') AS promoters,
       count(*) FILTER (WHERE x.segment = 'passive') AS passives,
       count(*) FILTER (WHERE x.segment = 'detractor') AS detractors,
       sum(x.score) AS total,
       sum(x.score * x.score) AS squares
FROM survey_responses AS x
WHERE x.project_id = $1 AND x.kind = $2 AND x.score IS NOT NULL
  AND x.responded_at >= $3 AND x.responded_at < $4
  {_FILTERS}
GROUP BY 1, 2, 3
"""  # noqa: S608 - fixed fragments; every value is a parameter

SHOWN = f"""
SELECT CASE WHEN $5::text IS NULL THEN NULL
            ELSE date_trunc($5::text, x.occurred_at, 'UTC')::date END AS period,
       {_group("x.", 1)} AS group_1,
       {_group("x.", 2)} AS group_2,
       count(*) AS shown
FROM survey_impressions AS x
WHERE x.project_id = $1 AND x.kind = $2 AND x.event = 'shown'
  AND x.occurred_at >= $3 AND x.occurred_at < $4
  {_FILTERS}
GROUP BY 1, 2, 3
"""  # noqa: S608 - fixed fragments; every value is a parameter


def _args(
    project_id: str,
    kind: str,
    since: date,
    until: date,
    period: Period,
    group_by: Sequence[Dimension],
    filters: Filters,
) -> list[object]:
    dims = [*group_by, None, None][:2]
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC)  # ``until`` is inclusive
    return [
        project_id,
        kind,
        start,
        end,
        None if period == "all" else period,
        *(value for d in dims for value in ((d.name, d.trait) if d else (None, None))),
        filters.survey,
        filters.feature,
        filters.plan,
        filters.band,
        filters.locale,
        filters.page,
        filters.account,
        [key for key, _ in filters.traits],
        [value for _, value in filters.traits],
    ]


async def count_ratings(
    conn: Connection,
    project_id: str,
    kind: str,
    since: date,
    until: date,
    period: Period,
    group_by: Sequence[Dimension],
    filters: Filters,
) -> dict[GroupKey, Counts]:
    """Counts of the ratings of ``kind`` per (period, group values), days inclusive (UTC)."""
    rows = await conn.fetch(
        RATINGS, *_args(project_id, kind, since, until, period, group_by, filters)
    )
    return {
        (r["period"], r["group_1"], r["group_2"]): Counts(
            r["n"],
            r["promoters"],
            r["passives"],
            r["detractors"],
            float(r["total"] or 0.0),
            float(r["squares"] or 0.0),
        )
        for r in rows
    }


async def count_shown(
    conn: Connection,
    project_id: str,
    kind: str,
    since: date,
    until: date,
    period: Period,
    group_by: Sequence[Dimension],
    filters: Filters,
) -> dict[GroupKey, int]:
    """``Survey Shown`` events of surveys of ``kind`` per (period, group values)."""
    rows = await conn.fetch(
        SHOWN, *_args(project_id, kind, since, until, period, group_by, filters)
    )
    return {(r["period"], r["group_1"], r["group_2"]): int(r["shown"]) for r in rows}
