"""The CS API: accounts and their health (secret key)."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from cxloop.api import ApiError, Audit, Db, Page, ProjectId, Transaction
from cxloop.health import store
from cxloop.health.rollup import rollup_glob
from cxloop.health.schemas import (
    Account,
    AccountHealth,
    AccountHistory,
    AccountPage,
    AccountResponse,
    AccountResponses,
    AccountSummary,
    AccountUsage,
    Band,
    RefreshResult,
    RollupSummary,
    Snapshot,
    UsageDay,
)
from cxloop.health.score import DEFAULT_WEIGHTS, HealthConfig
from cxloop.health.service import (
    load_config,
    refresh_project,
    wait_for_acked,
    wait_for_analysed,
)

if TYPE_CHECKING:
    from cxloop.settings import Settings

__all__ = ["AccountsController", "HealthController"]

_Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
_Since = Annotated[date | None, QueryParameter(name="from")]
_Until = Annotated[date | None, QueryParameter(name="to")]


def _value(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _summary(row: Any) -> AccountSummary:
    return AccountSummary(
        account_id=row["account_id"],
        name=row["name"],
        plan=row["plan"],
        score=row["score"],
        band=row["band"],
        confidence=row["confidence"],
        change=row["change"],
        as_of=row["day"].isoformat(),
    )


def _health(row: Any) -> AccountHealth:
    drivers = _value(row["drivers"])
    return AccountHealth(
        **msgspec.structs.asdict(_summary(row)),
        components=_value(row["components"]),
        drivers=drivers["score"],
        change_drivers=drivers["change"],
    )


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

    @post(
        "/refresh",
        permission="health:refresh",
        status_code=200,
        summary="Recompute health now, including every event acked before the call.",
    )
    async def refresh_health(
        self, project_id: ProjectId, db: Db, audit: Audit, settings: NamedDependency[Settings]
    ) -> RefreshResult:
        try:
            await wait_for_acked(settings.wal_dir, time.time_ns())
        except TimeoutError as exc:
            raise ApiError(503, "pipeline_behind", str(exc)) from exc
        try:
            # The feedback component reads the comments' analysis: none may be pending.
            await wait_for_analysed(db, project_id)
        except TimeoutError as exc:
            raise ApiError(503, "analysis_behind", str(exc)) from exc
        report = await refresh_project(db, settings.lake_dir, project_id)
        # The refresh commits in steps of its own; the entry follows once it succeeded.
        await audit.record(
            db,
            "health.refreshed",
            "health",
            None,
            {"accounts": report.accounts, "as_of": report.as_of.isoformat()},
        )
        return RefreshResult(
            accounts=report.accounts,
            failed_accounts=report.failed_accounts,
            as_of=report.as_of.isoformat(),
            seconds=round(report.seconds, 3),
            rollup=RollupSummary(report.rollup.partitions, report.rollup.events),
        )

    @get(
        "/config",
        permission="health:read",
        summary="The project's health configuration (defaults when never set).",
    )
    async def get_health_config(self, project_id: ProjectId, db: Db) -> HealthConfig:
        return await load_config(db, project_id)

    @put(
        "/config",
        permission="config:write",
        summary="Set key features, weights, band thresholds, drop threshold.",
    )
    async def set_health_config(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        data: JSONBody[HealthConfig],
    ) -> HealthConfig:
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
        before = msgspec.to_builtins(await load_config(transaction, project_id))
        after = msgspec.to_builtins(data)
        changed = sorted(key for key in after if before.get(key) != after[key])
        await store.save_config(transaction, project_id, data)
        await audit.record(
            transaction, "health_config.updated", "health_config", None, {"changed": changed}
        )
        return data


class AccountsController(Controller):
    path = "/v1/accounts"
    tags = ["accounts"]

    @get(
        "/",
        permission="health:read",
        summary="Accounts with their current health; filter, sort, page.",
    )
    async def list_accounts(
        self,
        project_id: ProjectId,
        db: Db,
        page: Page,
        band: FromQuery[Band | None] = None,
        plan: FromQuery[str | None] = None,
        min_score: FromQuery[float | None] = None,
        max_score: FromQuery[float | None] = None,
        sort: FromQuery[store.AccountSort] = "score",
    ) -> AccountPage:
        after_value, after_id = page.after(2, ((float, int, type(None)), str)) or (None, None)
        rows = await store.list_latest(
            db,
            project_id,
            band=band,
            plan=plan,
            min_score=min_score,
            max_score=max_score,
            sort=sort,
            after=(after_value, after_id),
            limit=page.fetch,
        )
        by_score = sort.endswith("score")
        shown, next_cursor = page.cut(
            rows,
            lambda last: [
                last["score"] if by_score else (last["change"] or 0.0),
                last["account_id"],
            ],
        )
        return AccountPage(accounts=[_summary(r) for r in shown], next_cursor=next_cursor)

    @get(
        "/export",
        permission="health:read",
        summary="Every account's current health as CSV or Parquet, for BI tools.",
        media_type="application/octet-stream",
        opt={"answer_media_types": ("text/csv", "application/vnd.apache.parquet")},
    )
    async def export_accounts(
        self, project_id: ProjectId, db: Db, format: FromQuery[Literal["csv", "parquet"]] = "csv"
    ) -> Response[bytes]:
        rows = await store.latest_snapshots(db, project_id)
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

    @get(
        "/{account_id:str}/responses",
        permission="responses:read",
        summary="The account's survey responses, newest first.",
    )
    async def list_account_responses(
        self, project_id: ProjectId, db: Db, account_id: FromPath[str], limit: _Limit = 100
    ) -> AccountResponses:
        rows = await store.account_responses(db, project_id, account_id, limit)
        return AccountResponses(
            account_id=account_id,
            responses=[
                AccountResponse(**{**dict(r), "responded_at": r["responded_at"].isoformat()})
                for r in rows
            ],
        )

    @get(
        "/{account_id:str}",
        permission="health:read",
        summary="One account: traits and current health, explained.",
    )
    async def get_account(
        self, project_id: ProjectId, db: Db, account_id: FromPath[str]
    ) -> Account:
        account = await store.account_row(db, project_id, account_id)
        health = await store.account_latest(db, project_id, account_id)
        if account is None and health is None:
            raise ApiError(404, "account_not_found", f"no account {account_id!r} in this project")
        return Account(
            account_id=account_id,
            traits=msgspec.json.decode(account["traits"]) if account else {},
            first_seen_at=account["first_seen_at"].isoformat() if account else None,
            last_seen_at=account["last_seen_at"].isoformat() if account else None,
            health=_health(health) if health is not None else None,
        )

    @get(
        "/{account_id:str}/health",
        permission="health:read",
        summary="Daily health snapshots over a time range.",
    )
    async def get_account_health(
        self,
        project_id: ProjectId,
        db: Db,
        account_id: FromPath[str],
        since: _Since = None,
        until: _Until = None,
    ) -> AccountHistory:
        rows = await store.account_snapshots(db, project_id, account_id, since, until)
        return AccountHistory(
            account_id=account_id,
            snapshots=[Snapshot(**{**dict(r), "day": r["day"].isoformat()}) for r in rows],
        )

    @get(
        "/{account_id:str}/usage",
        permission="health:read",
        summary="Events and active users per feature per day.",
    )
    async def get_account_usage(
        self,
        project_id: ProjectId,
        settings: NamedDependency[Settings],
        account_id: FromPath[str],
        since: _Since = None,
        until: _Until = None,
    ) -> AccountUsage:
        rows = await asyncio.to_thread(
            _account_usage, settings.lake_dir, project_id, account_id, since, until
        )
        return AccountUsage(
            account_id=account_id,
            usage=[
                UsageDay(day=day.isoformat(), feature=feature, events=events, active_users=users)
                for day, feature, events, users in rows
            ],
        )
