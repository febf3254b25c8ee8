"""The health API's answers, as msgspec Structs (the wire schema and the OpenAPI schema).

Times are ISO strings made by the handlers (``datetime.isoformat``), as the API has always
sent them; components and drivers are the JSON the snapshot stored, passed through as is.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from cxloop.surveys import Rating

__all__ = [
    "Account",
    "AccountActivity",
    "AccountFacets",
    "AccountHealth",
    "AccountHistory",
    "AccountPage",
    "AccountResponse",
    "AccountResponses",
    "AccountSummary",
    "AccountUsage",
    "ActivityWeek",
    "AlertAge",
    "Band",
    "BandDay",
    "BandShare",
    "Confidence",
    "FacetValue",
    "FeatureWeeks",
    "Portfolio",
    "PortfolioNow",
    "RefreshResult",
    "RenewalWindow",
    "RollupSummary",
    "ScoreDrop",
    "Snapshot",
    "UsageDay",
]

Band = Literal["green", "yellow", "red"]
Confidence = Literal["normal", "low"]


class RollupSummary(msgspec.Struct):
    partitions: int
    events: int


class RefreshResult(msgspec.Struct):
    accounts: int
    # Skipped this time, each logged.
    failed_accounts: list[str]
    as_of: str
    seconds: float
    rollup: RollupSummary


class AccountSummary(msgspec.Struct):
    account_id: str
    name: str | None
    plan: str | None
    score: float
    band: Band
    confidence: Confidence
    change: float | None
    as_of: str
    # Typed traits (null when absent or not understandable): ``seats``, ``status``, ``mrr`` (a
    # number, or a string holding one), ``csm`` (the CSM owner), ``renewal_date`` (YYYY-MM-DD
    # from an ISO date or date-time), and the days from today (UTC) to it, negative when past.
    seats: int | None
    status: str | None
    mrr: float | None
    csm: str | None
    renewal_date: str | None
    days_to_renewal: int | None


class AccountPage(msgspec.Struct):
    accounts: list[AccountSummary]
    next_cursor: str | None
    # How many accounts match the filters, over all pages.
    total: int


class FacetValue(msgspec.Struct):
    value: str
    accounts: int


class AccountFacets(msgspec.Struct):
    """``GET /v1/accounts/facets``: the values the list's filters can take, with counts."""

    plans: list[FacetValue]
    csms: list[FacetValue]
    bands: list[FacetValue]
    # Names of the accounts' group traits, most common first (at most 50).
    traits: list[str]


class AccountHealth(AccountSummary):
    components: list[dict[str, Any]]
    drivers: list[str]
    change_drivers: list[str]


class Account(msgspec.Struct):
    account_id: str
    traits: dict[str, Any]
    first_seen_at: str | None
    last_seen_at: str | None
    health: AccountHealth | None


class AccountResponse(Rating):
    partial: bool
    responded_at: str


class AccountResponses(msgspec.Struct):
    account_id: str
    responses: list[AccountResponse]


class Snapshot(msgspec.Struct):
    day: str
    score: float
    band: Band
    confidence: Confidence
    change: float | None


class AccountHistory(msgspec.Struct):
    account_id: str
    snapshots: list[Snapshot]


class UsageDay(msgspec.Struct):
    day: str
    feature: str
    events: int
    active_users: int


class AccountUsage(msgspec.Struct):
    account_id: str
    usage: list[UsageDay]


class ActivityWeek(msgspec.Struct):
    week: str  # the ISO week's Monday, YYYY-MM-DD
    active_users: int
    events: int
    seats: int | None


class FeatureWeeks(msgspec.Struct):
    feature: str
    weeks: list[int]  # events per week, aligned with ``AccountActivity.weeks``


class AccountActivity(msgspec.Struct):
    """``GET /v1/accounts/{id}/activity``: active users vs seats per week, and the feature ×
    week heat map (the top 20 features by events)."""

    account_id: str
    weeks: list[ActivityWeek]
    features: list[FeatureWeeks]


class BandDay(msgspec.Struct):
    """Accounts and their MRR per band on one snapshot day."""

    day: str
    green: int
    yellow: int
    red: int
    mrr_green: float
    mrr_yellow: float
    mrr_red: float


class BandShare(msgspec.Struct):
    band: Band
    accounts: int
    mrr: float


class PortfolioNow(msgspec.Struct):
    accounts: int
    mrr: float
    by_band: list[BandShare]


class RenewalWindow(msgspec.Struct):
    within_days: int
    accounts: int
    mrr: float
    by_band: list[BandShare]


class ScoreDrop(AccountSummary, kw_only=True):
    """A summary row with the drop over the last 7 days and the snapshot's change drivers."""

    drop: float
    since: str
    change_drivers: list[str]


class AlertAge(msgspec.Struct):
    bucket: Literal["<1d", "1-7d", "7-30d", ">30d"]
    open: int
    in_progress: int  # acknowledged


class Portfolio(msgspec.Struct):
    """``GET /v1/portfolio``: the portfolio page in one answer."""

    as_of: str | None
    bands: list[BandDay]
    current: PortfolioNow
    renewals: list[RenewalWindow]
    upcoming_renewals: list[AccountSummary]
    drops: list[ScoreDrop]
    alerts_by_age: list[AlertAge]
