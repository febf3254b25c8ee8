"""Ratings and impressions aggregated per period and group, in PostgreSQL.

Questions about surveys, features, plans, bands and locales read the daily rollups
(``survey_rating_days``, ``survey_shown_days``, kept exact by triggers, migration 0007); those
about pages, accounts or user traits read the rows.

One fixed statement per table: what to group by and filter on arrives as parameters (a
dimension's name chooses a column inside a ``CASE``), so no SQL is ever built from a request.
The segment of a rating is the ``segment`` column (``cxloop_survey_segment``, the SQL copy of
``cxloop.surveys.ratings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal

from cxloop.db import Connection
from cxloop.insights.stats import Counts

__all__ = [
    "DIMENSIONS",
    "ROLLUP_DIMENSIONS",
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


def _group(column_of: str, dimension: int, *, rollup: bool = False) -> str:
    """The CASE choosing the value of group ``dimension`` (1 or 2) by its parameter; the
    rollups have only the first five dimensions' columns."""
    name, key = (6, 7) if dimension == 1 else (8, 9)
    rows_only = (
        ""
        if rollup
        else f"""
        WHEN 'page' THEN {column_of}page_path WHEN 'account' THEN {column_of}account_id
        WHEN 'trait' THEN {column_of}user_traits ->> ${key}::text"""
    )
    return f"""CASE ${name}::text
        WHEN 'survey' THEN {column_of}survey_id WHEN 'feature' THEN {column_of}feature
        WHEN 'plan' THEN {column_of}plan WHEN 'band' THEN {column_of}band
        WHEN 'locale' THEN {column_of}locale{rows_only} END"""


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

# The rollup's filters: trait dimensions, page, account and traits never reach it (their
# parameters, $7, $9 and $15..$18, are null or empty then; named so each has a type).
_DAY_FILTERS = """
  AND $7::text IS NULL AND $9::text IS NULL
  AND ($10::text IS NULL OR x.survey_id = $10) AND ($11::text IS NULL OR x.feature = $11)
  AND ($12::text IS NULL OR x.plan = $12) AND ($13::text IS NULL OR x.band = $13)
  AND ($14::text IS NULL OR x.locale = $14) AND $15::text IS NULL AND $16::text IS NULL
  AND cardinality($17::text[]) = 0 AND cardinality($18::text[]) = 0
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

# The same from the daily rollup (migration 0007), when no dimension or filter needs a column
# it lacks (page, account, user traits): the days of [$3, $4), same parameters.
RATINGS_FROM_DAYS = f"""
SELECT CASE WHEN $5::text IS NULL THEN NULL
            ELSE date_trunc($5::text, x.day::timestamp)::date END AS period,
       {_group("x.", 1, rollup=True)} AS group_1,
       {_group("x.", 2, rollup=True)} AS group_2,
       sum(x.n)::bigint AS n,
       sum(x.promoters)::bigint AS promoters,
       sum(x.passives)::bigint AS passives,
       sum(x.detractors)::bigint AS detractors,
       sum(x.total) AS total,
       sum(x.squares) AS squares
FROM survey_rating_days AS x
WHERE x.project_id = $1 AND x.kind = $2
  AND x.day >= ($3::timestamptz AT TIME ZONE 'UTC')::date
  AND x.day < ($4::timestamptz AT TIME ZONE 'UTC')::date
  {_DAY_FILTERS}
GROUP BY 1, 2, 3
HAVING sum(x.n) > 0
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

SHOWN_FROM_DAYS = f"""
SELECT CASE WHEN $5::text IS NULL THEN NULL
            ELSE date_trunc($5::text, x.day::timestamp)::date END AS period,
       {_group("x.", 1, rollup=True)} AS group_1,
       {_group("x.", 2, rollup=True)} AS group_2,
       sum(x.shown)::bigint AS shown
FROM survey_shown_days AS x
WHERE x.project_id = $1 AND x.kind = $2
  AND x.day >= ($3::timestamptz AT TIME ZONE 'UTC')::date
  AND x.day < ($4::timestamptz AT TIME ZONE 'UTC')::date
  {_DAY_FILTERS}
GROUP BY 1, 2, 3
HAVING sum(x.shown) > 0
"""  # noqa: S608 - fixed fragments; every value is a parameter

# What the daily rollups keep; anything else is read from the rows themselves.
ROLLUP_DIMENSIONS: Final = ("survey", "feature", "plan", "band", "locale")


def _from_days(group_by: Sequence[Dimension], filters: Filters) -> bool:
    return (
        all(d.name in ROLLUP_DIMENSIONS for d in group_by)
        and filters.page is None
        and filters.account is None
        and not filters.traits
    )


# A plan for the parameters at hand: a generic plan cannot know which dimension a CASE picks
# or whether a filter is set, estimates every row, and then spends longer compiling (JIT) than
# the rollup query takes to run.
_PLAN_FOR_THESE_VALUES = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off"


async def _fetch(conn: Connection, sql: str, args: Sequence[object]) -> list[Any]:
    # A savepoint when the caller has a transaction open: SET LOCAL then lasts until its end.
    async with conn.transaction():
        await conn.execute(_PLAN_FOR_THESE_VALUES)
        rows: list[Any] = await conn.fetch(sql, *args)
    return rows


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
    sql = RATINGS_FROM_DAYS if _from_days(group_by, filters) else RATINGS
    rows = await _fetch(conn, sql, _args(project_id, kind, since, until, period, group_by, filters))
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
    sql = SHOWN_FROM_DAYS if _from_days(group_by, filters) else SHOWN
    rows = await _fetch(conn, sql, _args(project_id, kind, since, until, period, group_by, filters))
    return {(r["period"], r["group_1"], r["group_2"]): int(r["shown"]) for r in rows}
