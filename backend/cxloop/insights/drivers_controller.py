"""``GET /v1/insights/drivers/usage`` (secret key): which features' use goes with better
ratings, feature by feature and ranked without double counting (docs/insights-drivers.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from cxloop.api import ApiError, Db, ProjectId
from cxloop.db import Connection
from cxloop.health import load_config
from cxloop.insights import drivers_store as store
from cxloop.insights.drivers import usage_drivers
from cxloop.insights.drivers_schemas import FeatureDriver, UsageDrivers
from cxloop.insights.export import ExportOperation, FormatQuery, export_response
from cxloop.lake import LakeLocation
from cxloop.surveys import Kind

if TYPE_CHECKING:
    from cxloop.settings import Settings

__all__ = ["DriversController", "drivers_answer", "parse_features", "rating_period"]

DEFAULT_PERIOD_DAYS = 180
MAX_PERIOD_DAYS = 731
MAX_FEATURES = 50
MAX_FEATURE_CHARS = 200
# Ratings before this are not data (and a window before year 1 is not a date).
_EARLIEST = date(2000, 1, 1)

_Since = Annotated[
    date | None,
    QueryParameter(name="from", description="First rating date (default: 180 days before to)."),
]
_Until = Annotated[date | None, QueryParameter(name="to", description="Last rating date (UTC).")]
_Window = Annotated[
    int,
    QueryParameter(ge=1, le=365, description="Days before each rating that count as using."),
]
_Features = Annotated[
    str | None,
    QueryParameter(
        description="Comma-separated features (default: the health configuration's key "
        "features, else the 10 features used by the most accounts in the 30 days up to 'to')."
    ),
]


def rating_period(since: date | None, until: date | None) -> tuple[date, date]:
    """The rating dates asked for, with their defaults; 400 on a period that is not one."""
    until = until or datetime.now(UTC).date()
    if until < _EARLIEST or (since is not None and since < _EARLIEST):
        raise ApiError(400, "invalid_period", f"dates from {_EARLIEST.isoformat()} on, please")
    if since is None:
        since = max(_EARLIEST, until - timedelta(days=DEFAULT_PERIOD_DAYS - 1))
    if since > until:
        raise ApiError(400, "invalid_period", "'from' must be on or before 'to'")
    if (until - since).days >= MAX_PERIOD_DAYS:
        raise ApiError(400, "invalid_period", f"a period of at most {MAX_PERIOD_DAYS} days, please")
    return since, until


def parse_features(text: str) -> list[str]:
    """``a,b,c`` → the distinct names in order; 400 on an empty name or too many."""
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise ApiError(400, "invalid_features", "features: comma-separated names, none empty")
    if any(len(name) > MAX_FEATURE_CHARS or "\x00" in name for name in names):
        raise ApiError(
            400,
            "invalid_features",
            f"features: each name at most {MAX_FEATURE_CHARS} characters, no NUL",
        )
    unique = list(dict.fromkeys(names))
    if len(unique) > MAX_FEATURES:
        raise ApiError(400, "invalid_features", f"features: at most {MAX_FEATURES} names")
    return unique


async def drivers_answer(
    db: Connection,
    lake: Path | LakeLocation,
    project_id: str,
    kind: Kind,
    since: date,
    until: date,
    window_days: int,
    features: list[str] | None,
) -> UsageDrivers:
    """The usage drivers of ``kind`` for ratings from ``since`` to ``until`` (the route and
    ``cxloop insights drivers``); ``features`` None: the key features."""
    members = await store.fetch_members(db, project_id)
    names: list[str]
    if features is not None:
        names = features
    else:
        config = await load_config(db, project_id)
        names = list(config.key_features or ()) or await asyncio.to_thread(
            store.busiest_features, lake, project_id, members, until
        )
    raters = await store.fetch_raters(db, project_id, kind, since, until)
    pairs = await asyncio.to_thread(
        store.feature_usage, lake, project_id, raters, members, names, window_days
    )
    column = {name: j for j, name in enumerate(names)}
    used = np.zeros((len(raters), len(names)), dtype=np.bool_)
    for index, feature in pairs:
        used[index, column[feature]] = True
    answer = await asyncio.to_thread(
        usage_drivers,
        kind,
        [float(r["score"]) for r in raters],
        used,
        names,
        since=since.isoformat(),
        until=until.isoformat(),
        window_days=window_days,
    )
    if not names:
        answer.notes.append(
            "no key features: none configured (PUT /v1/health/config) and no feature used "
            "in the 30 days up to 'to'; or name them with features="
        )
    return answer


class DriversController(Controller):
    path = "/v1/insights/drivers"
    tags = ["insights"]

    @get(
        "/usage",
        permission="insights:read",
        operation_class=ExportOperation,
        summary="Usage drivers of a rating: per key feature, users against non-users in the "
        "days before rating, and a ranking by relative weights.",
    )
    async def get_usage_drivers(
        self,
        project_id: ProjectId,
        db: Db,
        settings: NamedDependency[Settings],
        kind: FromQuery[Kind] = "nps",
        since: _Since = None,
        until: _Until = None,
        window_days: _Window = 30,
        features: _Features = None,
        format: FormatQuery = "json",
    ) -> UsageDrivers | Response[bytes]:
        since, until = rating_period(since, until)
        names = parse_features(features) if features is not None else None
        answer = await drivers_answer(
            db,
            LakeLocation.from_settings(settings),
            project_id,
            kind,
            since,
            until,
            window_days,
            names,
        )
        if format != "json":
            return export_response(answer.features, FeatureDriver, format, "cxloop-usage-drivers")
        return answer
