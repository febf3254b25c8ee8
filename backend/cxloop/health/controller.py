"""The CS API: accounts and their health (secret key)."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import Parameter

from cxloop.api.auth import database_pool, project_id_of
from cxloop.api.errors import ApiError
from cxloop.api.pagination import Cursor
from cxloop.health.rollup import rollup_glob
from cxloop.health.score import DEFAULT_WEIGHTS, HealthConfig
from cxloop.health.service import load_config, refresh_project, wait_for_acked

__all__ = ["AccountsController", "HealthController"]

_SORTS = {
    "score": ("s.score", "ASC"),
    "-score": ("s.score", "DESC"),
    "change": ("coalesce(s.change, 0)", "ASC"),
    "-change": ("coalesce(s.change, 0)", "DESC"),
}

# The latest snapshot of each account of the project, with its traits.
# The latest refresh scores every known account, so "current health" is that day's snapshots
# (one index range, not a pass over the whole history).
_LATEST = """
SELECT s.account_id, a.name, a.plan, a.seats, a.status, s.score, s.band, s.confidence,
       s.change, s.day, s.components, s.drivers
FROM health_snapshots AS s
LEFT JOIN accounts AS a ON a.project_id = s.project_id AND a.account_id = s.account_id
WHERE s.project_id = $1
  AND s.day = (SELECT max(day) FROM health_snapshots WHERE project_id = $1)
"""
# One account's newest snapshot, whenever it was taken.
_ACCOUNT_LATEST = """
SELECT s.account_id, a.name, a.plan, a.seats, a.status, s.score, s.band, s.confidence,
       s.change, s.day, s.components, s.drivers
FROM health_snapshots AS s
LEFT JOIN accounts AS a ON a.project_id = s.project_id AND a.account_id = s.account_id
WHERE s.project_id = $1 AND s.account_id = $2
ORDER BY s.day DESC LIMIT 1
"""


def _value(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _summary(row: Any) -> dict[str, Any]:
    return {
        "account_id": row["account_id"],
        "name": row["name"],
        "plan": row["plan"],
        "score": row["score"],
        "band": row["band"],
        "confidence": row["confidence"],
        "change": row["change"],
        "as_of": row["day"].isoformat(),
    }


def _account_usage(
    lake_dir: Path, project_id: str, account_id: str, since: date | None, until: date | None
) -> list[tuple[date, str, int, int]]:
    source = rollup_glob(lake_dir, "usage_feature", project_id)
    if source is None:
        return []
    with duckdb.connect() as db:
        rows = db.execute(
            f"SELECT date, feature, events, active_users FROM {source} "  # noqa: S608 - our path
            "WHERE account_id = $account AND ($since::DATE IS NULL OR date >= $since) "
            "AND ($until::DATE IS NULL OR date <= $until) ORDER BY date, feature",
            {"account": account_id, "since": since, "until": until},
        ).fetchall()
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


class HealthController(Controller):
    path = "/v1/health"
    tags = ["health"]
    dependencies = {"project_id": Provide(project_id_of)}

    @post(
        "/refresh",
        status_code=200,
        summary="Recompute health now, including every event acked before the call.",
    )
    async def refresh(self, request: Request[Any, Any, Any], project_id: str) -> dict[str, Any]:
        settings = request.app.state.settings
        try:
            await wait_for_acked(settings.wal_dir, time.time_ns())
        except TimeoutError as exc:
            raise ApiError(503, "pipeline_behind", str(exc)) from exc
        async with database_pool(request).acquire() as conn:
            report = await refresh_project(conn, settings.lake_dir, project_id)
        return {
            "accounts": report.accounts,
            "failed_accounts": report.failed_accounts,  # skipped this time, each logged
            "as_of": report.as_of.isoformat(),
            "seconds": round(report.seconds, 3),
            "rollup": {"partitions": report.rollup.partitions, "events": report.rollup.events},
        }

    @get("/config", summary="The project's health configuration (defaults when never set).")
    async def read_config(self, request: Request[Any, Any, Any], project_id: str) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            config = await load_config(conn, project_id)
        return msgspec.to_builtins(config)  # type: ignore[no-any-return]

    @put("/config", summary="Set key features, weights, band thresholds, drop threshold.")
    async def write_config(
        self, request: Request[Any, Any, Any], project_id: str, data: HealthConfig
    ) -> dict[str, Any]:
        unknown = set(data.weights) - set(DEFAULT_WEIGHTS)
        if unknown or any(w < 0 for w in data.weights.values()):
            raise ApiError(
                400,
                "invalid_config",
                f"weights must be non-negative, for {', '.join(DEFAULT_WEIGHTS)}"
                + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else ""),
            )
        if not 0 <= data.yellow_at <= data.green_at <= 100:
            raise ApiError(400, "invalid_config", "need 0 ≤ yellow_at ≤ green_at ≤ 100")
        async with database_pool(request).acquire() as conn:
            await conn.execute(
                """INSERT INTO health_config (project_id, config) VALUES ($1, $2::text::jsonb)
                   ON CONFLICT (project_id) DO UPDATE SET config = EXCLUDED.config,
                   updated_at = now()""",
                project_id,
                msgspec.json.encode(data).decode(),
            )
        return msgspec.to_builtins(data)  # type: ignore[no-any-return]


class AccountsController(Controller):
    path = "/v1/accounts"
    tags = ["accounts"]
    dependencies = {"project_id": Provide(project_id_of)}

    @get("/", summary="Accounts with their current health; filter, sort, page.")
    async def list_accounts(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        band: Literal["green", "yellow", "red"] | None = None,
        plan: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        sort: Literal["score", "-score", "change", "-change"] = "score",
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        column, direction = _SORTS[sort]
        after_value, after_id = (
            Cursor.decode(cursor, 2, ((float, int, type(None)), str)) if cursor else (None, None)
        )
        compare = ">" if direction == "ASC" else "<"
        query = (
            f"SELECT * FROM ({_LATEST}) AS s WHERE ($2::text IS NULL OR s.band = $2) "  # noqa: S608 - fixed fragments
            "AND ($3::text IS NULL OR s.plan = $3) AND ($4::float8 IS NULL OR s.score >= $4) "
            "AND ($5::float8 IS NULL OR s.score <= $5) "
            f"AND ($6::float8 IS NULL OR ({column}, s.account_id) {compare} ($6, $7)) "
            f"ORDER BY {column} {direction}, s.account_id {direction} LIMIT $8"
        )
        async with database_pool(request).acquire() as conn:
            rows = await conn.fetch(
                query, project_id, band, plan, min_score, max_score, after_value, after_id,
                limit + 1,
            )  # fmt: skip
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            key = last["score"] if sort.endswith("score") else (last["change"] or 0.0)
            next_cursor = Cursor.encode([key, last["account_id"]])
        return {"accounts": [_summary(r) for r in page], "next_cursor": next_cursor}

    @get(
        "/export",
        summary="Every account's current health as CSV or Parquet, for BI tools.",
        media_type="application/octet-stream",
        opt={"answer_media_types": ("text/csv", "application/vnd.apache.parquet")},
    )
    async def export(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        format: Literal["csv", "parquet"] = "csv",
    ) -> Response[bytes]:
        async with database_pool(request).acquire() as conn:
            rows = await conn.fetch(
                f"SELECT * FROM ({_LATEST}) AS s ORDER BY s.account_id",  # noqa: S608
                project_id,
            )
        names = sorted({c["name"] for r in rows for c in _value(r["components"])})
        columns: dict[str, list[Any]] = {
            "account_id": [], "name": [], "plan": [], "seats": [], "status": [], "as_of": [],
            "score": [], "band": [], "confidence": [], "change": [],
            **{f"{n}_normalised": [] for n in names}, **{f"{n}_raw": [] for n in names},
        }  # fmt: skip
        for r in rows:
            for key in ("account_id", "name", "plan", "seats", "status", "score", "band",
                        "confidence", "change"):  # fmt: skip
                columns[key].append(r[key])
            columns["as_of"].append(r["day"])
            parts = {c["name"]: c for c in _value(r["components"])}
            for n in names:
                part = parts.get(n)
                columns[f"{n}_normalised"].append(part["normalised"] if part else None)
                raw = part["raw"] if part else None
                columns[f"{n}_raw"].append(float(raw) if isinstance(raw, int | float) else None)
        table = pa.table(columns)
        sink = pa.BufferOutputStream()
        if format == "parquet":
            pq.write_table(table, sink, compression="zstd")
            media = "application/vnd.apache.parquet"
        else:
            pa_csv.write_csv(table, sink)
            media = "text/csv"  # Litestar adds "; charset=utf-8" to text/* itself
        return Response(
            sink.getvalue().to_pybytes(),
            media_type=media,
            headers={"content-disposition": f'attachment; filename="cxloop-health.{format}"'},
        )

    @get("/{account_id:str}/responses", summary="The account's survey responses, newest first.")
    async def responses(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        account_id: str,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            rows = await conn.fetch(
                """SELECT response_id, survey_id, kind, score, comment, feature, user_id,
                          partial, responded_at
                   FROM survey_responses WHERE project_id = $1 AND account_id = $2
                   ORDER BY responded_at DESC, response_id DESC LIMIT $3""",
                project_id, account_id, limit,
            )  # fmt: skip
        return {
            "account_id": account_id,
            "responses": [{**dict(r), "responded_at": r["responded_at"].isoformat()} for r in rows],
        }

    @get("/{account_id:str}", summary="One account: traits and current health, explained.")
    async def read_account(
        self, request: Request[Any, Any, Any], project_id: str, account_id: str
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            account = await conn.fetchrow(
                "SELECT traits::text AS traits, first_seen_at, last_seen_at FROM accounts "
                "WHERE project_id = $1 AND account_id = $2",
                project_id,
                account_id,
            )
            health = await conn.fetchrow(
                _ACCOUNT_LATEST,
                project_id,
                account_id,
            )
        if account is None and health is None:
            raise ApiError(404, "account_not_found", f"no account {account_id!r} in this project")
        body: dict[str, Any] = {
            "account_id": account_id,
            "traits": msgspec.json.decode(account["traits"]) if account else {},
            "first_seen_at": account["first_seen_at"].isoformat() if account else None,
            "last_seen_at": account["last_seen_at"].isoformat() if account else None,
            "health": None,
        }
        if health is not None:
            drivers = _value(health["drivers"])
            body["health"] = {
                **_summary(health),
                "components": _value(health["components"]),
                "drivers": drivers["score"],
                "change_drivers": drivers["change"],
            }
        return body

    @get("/{account_id:str}/health", summary="Daily health snapshots over a time range.")
    async def history(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        account_id: str,
        since: Annotated[date | None, Parameter(query="from")] = None,
        until: Annotated[date | None, Parameter(query="to")] = None,
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            rows = await conn.fetch(
                """SELECT day, score, band, confidence, change FROM health_snapshots
                   WHERE project_id = $1 AND account_id = $2
                     AND ($3::date IS NULL OR day >= $3) AND ($4::date IS NULL OR day <= $4)
                   ORDER BY day""",
                project_id, account_id, since, until,
            )  # fmt: skip
        return {
            "account_id": account_id,
            "snapshots": [{**dict(r), "day": r["day"].isoformat()} for r in rows],
        }

    @get("/{account_id:str}/usage", summary="Events and active users per feature per day.")
    async def usage(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        account_id: str,
        since: Annotated[date | None, Parameter(query="from")] = None,
        until: Annotated[date | None, Parameter(query="to")] = None,
    ) -> dict[str, Any]:
        settings = request.app.state.settings
        rows = await asyncio.to_thread(
            _account_usage, settings.lake_dir, project_id, account_id, since, until
        )
        return {
            "account_id": account_id,
            "usage": [
                {
                    "day": day.isoformat(),
                    "feature": feature,
                    "events": events,
                    "active_users": users,
                }
                for day, feature, events, users in rows
            ],
        }
