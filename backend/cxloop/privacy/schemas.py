"""``/v1/privacy`` wire schemas: what the routes take and answer."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from cxloop.privacy.store import MAX_ID_CHARS, PrivacyRequest, RetentionConfig

__all__ = [
    "DeletionInput",
    "DeletionPage",
    "PrivacyRequest",
    "RetentionConfig",
    "RetentionInput",
    "SubjectExport",
]

_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]


class DeletionInput(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Whom to delete: any of the ids their events carry (at least one)."""

    user_id: _Id | None = None
    anonymous_id: _Id | None = None
    account_id: _Id | None = None


class DeletionPage(msgspec.Struct):
    deletions: list[PrivacyRequest]
    next_cursor: str | None = None


class RetentionInput(msgspec.Struct, forbid_unknown_fields=True):
    """``retention_days``: events older than this many days leave the lake (null: kept);
    ``keep_rollups``: whether the health rollups of those days stay."""

    retention_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] | None
    keep_rollups: bool = True


class SubjectExport(msgspec.Struct):
    """``GET /v1/privacy/exports/{user_id}`` as JSON: the profile PostgreSQL holds (rows with
    their columns as PostgreSQL names them), then the subject's events from the lake."""

    subject: dict[str, str | None]
    project_id: str
    exported_at: str
    user: dict[str, Any] | None
    memberships: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    survey_responses: list[dict[str, Any]]
    survey_impressions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    events: list[dict[str, Any]]
    failed_events: list[dict[str, Any]]
