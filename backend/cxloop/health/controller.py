"""The CS API: accounts and their health (secret key)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from cxloop.api import ApiError, Audit, Db, Page, PageRequest, ProjectId, Transaction
from cxloop.health import store
from cxloop.health.portfolio import account_activity, portfolio, summary_of
from cxloop.health.rollup import connect, rollup_source
from cxloop.health.schemas import (
    Account,
    AccountActivity,
    AccountFacets,
    AccountHealth,
    AccountHistory,
    AccountPage,
    AccountResponse,
    AccountResponses,
    AccountUsage,
    Band,
    FacetValue,
    Portfolio,
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
from cxloop.health.spark_rollup import rollup_engine
from cxloop.lake import LakeLocation

if TYPE_CHECKING:
    from cxloop.settings import Settings

__all__ = ["AccountsController", "HealthController", "PortfolioController"]

_Limit = Annotated[int, QueryParameter(ge=1, le=1000)]
_Since = Annotated[date | None, QueryParameter(name="from")]
_Until = Annotated[date | None, QueryParameter(name="to")]


_Bands = Annotated[list[Band] | None, QueryParameter(description="any of these bands")]
_Texts = Annotated[list[Annotated[str, msgspec.Meta(max_length=500)]] | None, QueryParameter()]
_Search = Annotated[str | None, QueryParameter(min_length=1, max_length=200)]
_Within = Annotated[int | None, QueryParameter(ge=0, le=3650)]

_FILTERS_DOC = (
    "Filters (all optional, combined with AND): `band`, `plan`, `csm` (each may be repeated: any "
    "of them), `min_score`/`max_score`, `q` (a case-insensitive part of the account id or name), "
    "`renewal_within` (N: renewal in 0..N days), `trait` (repeatable `name:value`, exact match "
    "on the trait's text). Sorts: `score`, `change`, `mrr`, `renewal` (renewal date), `name`, "
    "each descending with a leading `-`; accounts without the sort's value come last either "
    "way. `total` counts every matching account."
)
# The cursor value's JSON kinds per sort key type (SORTS), None in the null tail.
_CURSOR_KINDS: dict[str, tuple[type, ...]] = {
    "float8": (float, int, type(None)),
    "date": (str, type(None)),
    "text": (str, type(None)),
}


def _filters(
    bands: list[Band] | None,
    plans: list[str] | None,
    csms: list[str] | None,
    min_score: float | None,
    max_score: float | None,
    q: str | None,
    renewal_within: int | None,
    traits: list[str] | None,
) -> store.AccountFilter:
    pairs: list[tuple[str, str]] = []
    for given in traits or ():
        name, colon, value = given.partition(":")
        if not colon or not name.strip():
            raise ApiError(
                400,
                "invalid_trait_filter",
                f"trait filter {given!r} is not name:value (e.g. trait=region:emea)",
            )
        pairs.append((name, value))
    return store.AccountFilter(
        bands=tuple(bands or ()),
        plans=tuple(plans or ()),
        csms=tuple(csms or ()),
        min_score=min_score,
        max_score=max_score,
        q=q,
        renewal_within=renewal_within,
        traits=tuple(pairs),
    )


def _after(page: PageRequest, sort: store.AccountSort) -> tuple[Any, str] | None:
    kind = store.SORTS[sort][2]
    values = page.after(2, (_CURSOR_KINDS[kind], str))
    if values is None:
        return None
    value, account_id = values
    if kind == "date" and value is not None:
        try:
            value = date.fromisoformat(value)
        except ValueError as exc:
            raise ApiError(
                400, "invalid_cursor", "the cursor is not one this API returned"
            ) from exc
    if kind == "float8" and value is not None:
        value = float(value)
    return value, account_id


def _cursor_key(row: Any) -> list[Any]:
    value = row["sort_key"]
    return [value.isoformat() if isinstance(value, date) else value, row["account_id"]]


def _value(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _health(row: Any) -> AccountHealth:
    drivers = _value(row["drivers"])
    return AccountHealth(
        **msgspec.structs.asdict(summary_of(row)),
        components=_value(row["components"]),
        drivers=drivers["score"],
        change_drivers=drivers["change"],
    )


def _account_usage(
    lake: Path | LakeLocation,
    project_id: str,
    account_id: str,
    since: date | None,
    until: date | None,
) -> list[tuple[date, str, int, int]]:
    with connect(lake) as db:
        source = rollup_source(db, lake, "usage_feature", project_id)
        if source is None:
            return []
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
        report = await refresh_project(
            db,
            LakeLocation.from_settings(settings),
            project_id,
            rollup=rollup_engine(settings),
        )
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
        description=_FILTERS_DOC,
    )
    async def list_accounts(
        self,
        project_id: ProjectId,
        db: Db,
        page: Page,
        band: _Bands = None,
        plan: _Texts = None,
        csm: _Texts = None,
        min_score: FromQuery[float | None] = None,
        max_score: FromQuery[float | None] = None,
        q: _Search = None,
        renewal_within: _Within = None,
        trait: _Texts = None,
        sort: FromQuery[store.AccountSort] = "score",
    ) -> AccountPage:
        filters = _filters(band, plan, csm, min_score, max_score, q, renewal_within, trait)
        after = _after(page, sort)
        rows = await store.list_latest(
            db, project_id, filters, sort=sort, after=after, limit=page.fetch
        )
        if after is None and len(rows) < page.fetch:
            total = len(rows)  # the whole answer is on this page
        else:
            total = await store.count_latest(db, project_id, filters)
        shown, next_cursor = page.cut(rows, _cursor_key)
        return AccountPage(
            accounts=[summary_of(r) for r in shown], next_cursor=next_cursor, total=total
        )

    @get(
        "/export",
        permission="health:read",
        summary="Every account's current health as CSV or Parquet, for BI tools.",
        description="The same filters and sort as `GET /v1/accounts`, every matching account, "
        "with each component's normalised and raw value.",
        media_type="application/octet-stream",
        opt={"answer_media_types": ("text/csv", "application/vnd.apache.parquet")},
    )
    async def export_accounts(
        self,
        project_id: ProjectId,
        db: Db,
        format: FromQuery[Literal["csv", "parquet"]] = "csv",
        band: _Bands = None,
        plan: _Texts = None,
        csm: _Texts = None,
        min_score: FromQuery[float | None] = None,
        max_score: FromQuery[float | None] = None,
        q: _Search = None,
        renewal_within: _Within = None,
        trait: _Texts = None,
        sort: FromQuery[store.AccountSort | None] = None,
    ) -> Response[bytes]:
        filters = _filters(band, plan, csm, min_score, max_score, q, renewal_within, trait)
        if sort is None and filters == store.AccountFilter():
            rows = await store.latest_snapshots(db, project_id)  # by account id, as always
        else:
            rows = await store.list_latest(
                db, project_id, filters, sort=sort or "score", after=None, limit=None,
                with_json=True,
            )  # fmt: skip
        names = sorted({c["name"] for r in rows for c in _value(r["components"])})
        columns: dict[str, list[Any]] = {
            "account_id": [], "name": [], "plan": [], "seats": [], "status": [], "mrr": [],
            "csm": [], "renewal_date": [], "days_to_renewal": [], "as_of": [],
            "score": [], "band": [], "confidence": [], "change": [],
            **{f"{n}_normalised": [] for n in names}, **{f"{n}_raw": [] for n in names},
        }  # fmt: skip
        for r in rows:
            for key in ("account_id", "name", "plan", "seats", "status", "mrr", "csm",
                        "renewal_date", "days_to_renewal", "score", "band", "confidence",
                        "change"):  # fmt: skip
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
        "/facets",
        permission="health:read",
        summary="The plans, CSM owners, bands and trait names the accounts have, with counts.",
        description="Over the accounts with a current snapshot (the set `GET /v1/accounts` "
        "lists, unfiltered). `plans`, `csms`, `bands`: each value with how many accounts have "
        "it, most common first then by value, at most 200 each (accounts without the trait are "
        "not counted). `traits`: the names of the accounts' group traits, most common first, "
        "at most 50.",
    )
    async def get_account_facets(self, project_id: ProjectId, db: Db) -> AccountFacets:
        found = await store.facets(db, project_id)

        def values(key: str) -> list[FacetValue]:
            return [FacetValue(value=v, accounts=n) for v, n in found[key]]

        return AccountFacets(
            plans=values("plans"),
            csms=values("csms"),
            bands=values("bands"),
            traits=[name for name, _ in found["traits"]],
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
        "/{account_id:str}/activity",
        permission="health:read",
        summary="Active users vs seats per ISO week, and the feature × week heat map.",
        description="`weeks` ISO weeks (Monday dates), oldest first, the current week last; "
        "weeks without usage are zeros. `features`: the 20 features with the most events, "
        "each with its events per week aligned with `weeks`.",
    )
    async def get_account_activity(
        self,
        project_id: ProjectId,
        db: Db,
        settings: NamedDependency[Settings],
        account_id: FromPath[str],
        weeks: Annotated[int, QueryParameter(ge=1, le=52)] = 12,
    ) -> AccountActivity:
        account = await store.account_row(db, project_id, account_id)
        return await asyncio.to_thread(
            account_activity,
            LakeLocation.from_settings(settings),
            project_id,
            account_id,
            weeks,
            account["seats"] if account else None,
            datetime.now(UTC).date(),
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
            _account_usage,
            LakeLocation.from_settings(settings),
            project_id,
            account_id,
            since,
            until,
        )
        return AccountUsage(
            account_id=account_id,
            usage=[
                UsageDay(day=day.isoformat(), feature=feature, events=events, active_users=users)
                for day, feature, events, users in rows
            ],
        )


class PortfolioController(Controller):
    path = "/v1/portfolio"
    tags = ["portfolio"]

    @get(
        "/",
        permission="health:read",
        summary="The portfolio: bands over time, MRR by band, renewals, drops, alerts by age.",
        description="As of the latest snapshot day (`as_of`, null before the first refresh). "
        "`bands`: one row per snapshot day of the last `days`, accounts and their MRR (the "
        "`mrr` trait, today's value) per band. `renewals`: accounts renewing in 0..30/60/90 "
        "days; `upcoming_renewals`: the soonest 25 within 90 days. `drops`: the 10 biggest "
        "score drops over the last 7 days (latest score minus the oldest in those 7 days) "
        "with the latest snapshot's top 3 change drivers. `alerts_by_age`: open and "
        "acknowledged (`in_progress`) alerts by time since they opened.",
    )
    async def get_portfolio(
        self,
        project_id: ProjectId,
        db: Db,
        days: Annotated[int, QueryParameter(ge=7, le=365)] = 90,
    ) -> Portfolio:
        return await portfolio(db, project_id, days)
