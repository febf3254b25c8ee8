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
    "AccountHealth",
    "AccountHistory",
    "AccountPage",
    "AccountResponse",
    "AccountResponses",
    "AccountSummary",
    "AccountUsage",
    "Band",
    "Confidence",
    "RefreshResult",
    "RollupSummary",
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


class AccountPage(msgspec.Struct):
    accounts: list[AccountSummary]
    next_cursor: str | None


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
