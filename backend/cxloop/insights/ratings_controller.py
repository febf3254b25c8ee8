"""``/v1/insights/ratings`` and ``/v1/insights/ratings/change`` (secret key): rating metrics per
period and segment, and which changes are significant (docs/insights-ratings.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get
from litestar.params import FromQuery, QueryParameter

from cxloop.api import ApiError, Db, ProjectId
from cxloop.db import Connection
from cxloop.insights import ratings_store as store
from cxloop.insights.export import ExportOperation, FormatQuery, export_response
from cxloop.insights.ratings_schemas import ChangeRow, RatingChanges, RatingRow, Ratings
from cxloop.insights.ratings_store import DIMENSIONS, Dimension, Filters, GroupKey, Period
from cxloop.insights.stats import (
    Change,
    Counts,
    Summary,
    change_against_rest,
    change_between,
    metric_family,
    settle,
    summarise,
)
from cxloop.surveys import SCALES, Kind

__all__ = [
    "MAX_DAYS",
    "ChangeQuery",
    "RatingsController",
    "RatingsQuery",
    "change_answer",
    "change_query",
    "ratings_answer",
    "ratings_query",
]

MAX_DAYS = 3 * 366  # the longest range a request may span
# Days a request may name: the comparison window before FIRST_DAY and the day after LAST_DAY
# must still be dates.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9999, 12, 30)
DEFAULT_DAYS = 90
MAX_GROUPS = 2
BANDS = ("green", "yellow", "red")
Compare = Literal["previous", "rest"]

_Since = Annotated[date | None, QueryParameter(name="from", description="First day (UTC).")]
_Until = Annotated[
    date | None, QueryParameter(name="to", description="Last day (UTC), inclusive; default today.")
]
_GroupBy = Annotated[
    str | None,
    QueryParameter(
        description="Up to two of survey, feature, plan, band, locale, page, account, "
        "trait:<key>, comma-separated."
    ),
]
# "page" is the name of the pagination dependency: the page path arrives under another name.
_Page = Annotated[str | None, QueryParameter(name="page", description="The page path.")]
_Trait = Annotated[
    list[str] | None,
    QueryParameter(description="<key>:<value>: only users whose kept trait has this value."),
]


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_query", message)


def metric_name(kind: Kind) -> str:
    family = metric_family(kind)
    if family == "nps":
        return "NPS: % promoters − % detractors (−100 … 100)"
    scale = SCALES[kind]
    if family == "share":
        return f"% satisfied (score {scale.promoter_edge} or better)"
    return (
        f"mean effort ({scale.lowest} very easy … {scale.highest} very hard); "
        f"low_effort: % scoring {scale.promoter_edge} or less"
    )


def _dimensions(group_by: str | None) -> tuple[Dimension, ...]:
    group_by = _text("group_by", group_by)
    if group_by is None or not group_by.strip():
        return ()
    valid = f"{', '.join(DIMENSIONS)} or trait:<key>"
    dims: list[Dimension] = []
    for part in (p.strip() for p in group_by.split(",")):
        if part.startswith("trait:") and part[len("trait:") :].strip():
            dims.append(Dimension("trait", part[len("trait:") :].strip()))
        elif part in DIMENSIONS:
            dims.append(Dimension(part))
        else:
            raise _bad(f"group_by: unknown dimension {part!r}; use {valid}")
    if len(dims) > MAX_GROUPS:
        raise _bad(f"group_by: at most {MAX_GROUPS} dimensions besides the period")
    if len({d.label for d in dims}) != len(dims):
        raise _bad("group_by: a dimension is named twice")
    return tuple(dims)


def _filters(
    survey: str | None,
    feature: str | None,
    plan: str | None,
    band: str | None,
    locale: str | None,
    page: str | None,
    account: str | None,
    trait: Sequence[str] | None,
) -> Filters:
    survey, feature, plan, band = (
        _text("survey", survey), _text("feature", feature), _text("plan", plan),
        _text("band", band),
    )  # fmt: skip
    locale, page, account = _text("locale", locale), _text("page", page), _text("account", account)
    if band is not None and band not in BANDS:
        raise _bad(f"band: unknown band {band!r}; use one of {', '.join(BANDS)}")
    traits: list[tuple[str, str]] = []
    for item in trait or ():
        key, colon, value = (_text("trait", item) or "").partition(":")
        if not colon or not key:
            raise _bad(f"trait: {item!r} is not <key>:<value>, e.g. trait=role:admin")
        traits.append((key, value))
    return Filters(survey, feature, plan, band, locale, page, account, tuple(traits))


def _text(name: str, value: str | None) -> str | None:
    """A filter value PostgreSQL can compare: no NUL, valid Unicode."""
    if value is None:
        return None
    if "\x00" in value:
        raise _bad(f"{name}: must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise _bad(f"{name}: must be valid Unicode text") from None
    return value


def _range(since: date | None, until: date | None, names: str = "from/to") -> tuple[date, date]:
    for value in (since, until):
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise _bad(f"{names}: days from {FIRST_DAY} to {LAST_DAY}")
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if until < since:
        raise _bad(f"{names}: the end ({until}) is before the start ({since})")
    if (until - since).days + 1 > MAX_DAYS:
        raise _bad(f"{names}: at most {MAX_DAYS} days (3 years) at a time; narrow the range")
    return since, until


@dataclass(frozen=True)
class RatingsQuery:
    kind: Kind
    since: date
    until: date
    period: Period
    group_by: tuple[Dimension, ...]
    filters: Filters
    min_n: int = 0


@dataclass(frozen=True)
class ChangeQuery:
    kind: Kind
    since: date
    until: date
    compare_from: date
    compare_to: date
    compare: Compare
    group_by: tuple[Dimension, ...]
    filters: Filters


def ratings_query(
    kind: Kind,
    since: date | None = None,
    until: date | None = None,
    period: Period = "week",
    group_by: str | None = None,
    filters: Filters | None = None,
    min_n: int = 0,
) -> RatingsQuery:
    """A validated ratings request (ApiError 400 says what is wrong)."""
    since, until = _range(since, until)
    return RatingsQuery(
        kind, since, until, period, _dimensions(group_by), filters or Filters(), min_n
    )


def change_query(
    kind: Kind,
    since: date | None = None,
    until: date | None = None,
    compare_from: date | None = None,
    compare_to: date | None = None,
    compare: Compare = "previous",
    group_by: str | None = None,
    filters: Filters | None = None,
) -> ChangeQuery:
    """A validated change request: the previous window defaults to the days just before."""
    since, until = _range(since, until)
    days = (until - since).days + 1
    if (compare_from is None) != (compare_to is None):
        raise _bad("compare_from and compare_to go together (or leave both out)")
    if compare_from is None or compare_to is None:
        compare_to = since - timedelta(days=1)
        compare_from = compare_to - timedelta(days=days - 1)
    compare_from, compare_to = _range(compare_from, compare_to, "compare_from/compare_to")
    dims = _dimensions(group_by)
    if compare == "rest" and not dims:
        raise _bad("compare=rest compares each group with the rest: give group_by")
    return ChangeQuery(
        kind, since, until, compare_from, compare_to, compare, dims, filters or Filters()
    )


def _groups(dims: Sequence[Dimension], key: GroupKey) -> dict[str, str | None]:
    return {d.label: value for d, value in zip(dims, key[1:], strict=False)}


def _order(key: GroupKey) -> tuple[object, ...]:
    # Periods in order; within one, known values first, alphabetically; unknown (null) last.
    return (key[0] or date.min, key[1] is None, key[1] or "", key[2] is None, key[2] or "")


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


async def ratings_answer(conn: Connection, project_id: str, query: RatingsQuery) -> Ratings:
    args = (
        conn, project_id, query.kind, query.since, query.until, query.period, query.group_by,
        query.filters,
    )  # fmt: skip
    counts = await store.count_ratings(*args)
    shown = await store.count_shown(*args)
    rows: list[RatingRow] = []
    for key in sorted(counts.keys() | shown.keys(), key=_order):
        summary = summarise(query.kind, counts.get(key, Counts()))
        if summary.n < query.min_n:
            continue
        seen = shown.get(key)
        rows.append(
            RatingRow(
                period=(key[0] or query.since).isoformat(),
                groups=_groups(query.group_by, key),
                n=summary.n,
                promoters=summary.promoters,
                passives=summary.passives,
                detractors=summary.detractors,
                metric=_round(summary.metric),
                low=_round(summary.low),
                high=_round(summary.high),
                low_effort=_round(summary.low_effort),
                shown=seen,
                response_rate=_round(summary.n / seen) if seen else None,
            )
        )
    return Ratings(
        kind=query.kind,
        metric=metric_name(query.kind),
        since=query.since.isoformat(),
        until=query.until.isoformat(),
        period=query.period,
        group_by=[d.label for d in query.group_by],
        rows=rows,
    )


def _change_row(
    dims: Sequence[Dimension],
    key: GroupKey,
    current: Summary,
    previous: Summary,
    change: Change,
    rest_change: float | None,
) -> ChangeRow:
    return ChangeRow(
        groups=_groups(dims, key),
        current_n=current.n,
        current_metric=_round(current.metric),
        current_low=_round(current.low),
        current_high=_round(current.high),
        previous_n=previous.n,
        previous_metric=_round(previous.metric),
        previous_low=_round(previous.low),
        previous_high=_round(previous.high),
        rest_change=_round(rest_change),
        difference=_round(change.difference),
        low=_round(change.low),
        high=_round(change.high),
        p=_round(change.p, 6),
        q=_round(change.q, 6),
        significant=change.significant,
        note=change.note,
        note_code=change.note_code,
        note_groups=list(change.note_groups),
    )


def _total(counts: dict[GroupKey, Counts]) -> Counts:
    total = Counts()
    for value in counts.values():
        total = total.plus(value)
    return total


async def change_answer(conn: Connection, project_id: str, query: ChangeQuery) -> RatingChanges:
    kind, dims, filters = query.kind, query.group_by, query.filters
    now = await store.count_ratings(
        conn, project_id, kind, query.since, query.until, "all", dims, filters
    )
    before = await store.count_ratings(
        conn, project_id, kind, query.compare_from, query.compare_to, "all", dims, filters
    )
    keys = sorted(now.keys() | before.keys(), key=_order)
    summaries = [
        (summarise(kind, now.get(k, Counts())), summarise(kind, before.get(k, Counts())))
        for k in keys
    ]
    rest_changes: list[float | None] = [None] * len(keys)
    if query.compare == "rest":
        total_now, total_before = _total(now), _total(before)
        changes = []
        for index, key in enumerate(keys):
            rest_now = summarise(kind, total_now.minus(now.get(key, Counts())))
            rest_before = summarise(kind, total_before.minus(before.get(key, Counts())))
            if rest_now.metric is not None and rest_before.metric is not None:
                rest_changes[index] = rest_now.metric - rest_before.metric
            changes.append(change_against_rest(kind, *summaries[index], rest_now, rest_before))
    else:
        changes = [change_between(kind, current, previous) for current, previous in summaries]
    settled = settle(changes)
    return RatingChanges(
        kind=kind,
        metric=metric_name(kind),
        since=query.since.isoformat(),
        until=query.until.isoformat(),
        compare_from=query.compare_from.isoformat(),
        compare_to=query.compare_to.isoformat(),
        compare=query.compare,
        group_by=[d.label for d in dims],
        rows=[
            _change_row(dims, key, *pair, change, rest)
            for key, pair, change, rest in zip(keys, summaries, settled, rest_changes, strict=True)
        ],
    )


def _flat_rows(
    rows: Sequence[msgspec.Struct], row_type: type[msgspec.Struct], group_by: Sequence[str]
) -> tuple[list[msgspec.Struct], type[msgspec.Struct]]:
    """Rows for a file: each group_by dimension becomes a column of its own."""
    columns: list[tuple[str, object]] = []
    rename: dict[str, str] = {}
    for info in msgspec.structs.fields(row_type):
        if info.name != "groups":
            columns.append((info.name, info.type))
            continue
        for index, label in enumerate(group_by):
            columns.append((f"group_{index}", str | None))
            rename[f"group_{index}"] = label
    flat = msgspec.defstruct(f"Flat{row_type.__name__}", columns, rename=rename)
    built = []
    for row in rows:
        values = msgspec.structs.asdict(row)
        groups = values.pop("groups")
        values.update({f"group_{i}": groups.get(label) for i, label in enumerate(group_by)})
        built.append(flat(**values))
    return built, flat


class RatingsController(Controller):
    path = "/v1/insights/ratings"
    tags = ["insights"]

    @get(
        "/",
        permission="insights:read",
        summary="Rating metric per period and segment, with 95% intervals and response rates.",
        operation_class=ExportOperation,
    )
    async def get_ratings(
        self,
        project_id: ProjectId,
        db: Db,
        kind: FromQuery[Kind],
        since: _Since = None,
        until: _Until = None,
        period: FromQuery[Period] = "week",
        group_by: _GroupBy = None,
        survey: FromQuery[str | None] = None,
        feature: FromQuery[str | None] = None,
        plan: FromQuery[str | None] = None,
        band: FromQuery[str | None] = None,
        locale: FromQuery[str | None] = None,
        page_path: _Page = None,
        account: FromQuery[str | None] = None,
        trait: _Trait = None,
        min_n: Annotated[int, QueryParameter(ge=0, description="Leave out smaller rows.")] = 0,
        format: FormatQuery = "json",
    ) -> Ratings | Response[bytes]:
        filters = _filters(survey, feature, plan, band, locale, page_path, account, trait)
        query = ratings_query(kind, since, until, period, group_by, filters, min_n)
        answer = await ratings_answer(db, project_id, query)
        if format == "json":
            return answer
        rows, row_type = _flat_rows(answer.rows, RatingRow, answer.group_by)
        return export_response(rows, row_type, format, f"cxloop-ratings-{kind}")

    @get(
        "/change",
        permission="insights:read",
        summary="Change of the rating metric against a previous period or the rest, with "
        "significance (Benjamini–Hochberg across the rows).",
        operation_class=ExportOperation,
    )
    async def get_rating_changes(
        self,
        project_id: ProjectId,
        db: Db,
        kind: FromQuery[Kind],
        since: _Since = None,
        until: _Until = None,
        compare_from: FromQuery[date | None] = None,
        compare_to: FromQuery[date | None] = None,
        compare: FromQuery[Compare] = "previous",
        group_by: _GroupBy = None,
        survey: FromQuery[str | None] = None,
        feature: FromQuery[str | None] = None,
        plan: FromQuery[str | None] = None,
        band: FromQuery[str | None] = None,
        locale: FromQuery[str | None] = None,
        page_path: _Page = None,
        account: FromQuery[str | None] = None,
        trait: _Trait = None,
        format: FormatQuery = "json",
    ) -> RatingChanges | Response[bytes]:
        filters = _filters(survey, feature, plan, band, locale, page_path, account, trait)
        query = change_query(
            kind, since, until, compare_from, compare_to, compare, group_by, filters
        )
        answer = await change_answer(db, project_id, query)
        if format == "json":
            return answer
        rows, row_type = _flat_rows(answer.rows, ChangeRow, answer.group_by)
        return export_response(rows, row_type, format, f"cxloop-rating-changes-{kind}")
