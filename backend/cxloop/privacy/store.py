"""Data-subject requests in PostgreSQL: a deletion request and the suppression it starts,
in one transaction; reading them back; the per-project retention setting."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import msgspec

from cxloop.db import Connection
from cxloop.projects import SubjectKind, subject_digest

__all__ = [
    "MAX_ID_CHARS",
    "PrivacyError",
    "PrivacyRequest",
    "RetentionConfig",
    "Subject",
    "create_deletion",
    "get_request",
    "get_retention",
    "list_requests",
    "request_of",
    "set_retention",
    "subject_digests",
]

MAX_ID_CHARS = 1000

# JSON goes in and out as text, so these work on any connection (the CLI's has no codecs).
INSERT_REQUEST = """
INSERT INTO privacy_requests (id, project_id, kind, subject, digests, requested_by)
VALUES ($1, $2, 'deletion', $3::text::jsonb, $4, $5)
RETURNING id, project_id, kind, subject::text AS subject, status, requested_by,
          receipt::text AS receipt, error, created_at, started_at, finished_at
"""
INSERT_SUPPRESSIONS = """
INSERT INTO privacy_suppressions (project_id, kind, digest, request)
SELECT $1, kind, digest, $2 FROM unnest($3::text[], $4::text[]) AS s (kind, digest)
ON CONFLICT (project_id, kind, digest) DO NOTHING
"""
SELECT_REQUEST = """
SELECT id, project_id, kind, subject::text AS subject, status, requested_by,
       receipt::text AS receipt, error, created_at, started_at, finished_at
FROM privacy_requests WHERE project_id = $1 AND id = $2
"""
LIST_REQUESTS = """
SELECT id, project_id, kind, subject::text AS subject, status, requested_by,
       receipt::text AS receipt, error, created_at, started_at, finished_at
FROM privacy_requests
WHERE project_id = $1
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
ORDER BY created_at DESC, id DESC
LIMIT $4
"""
SELECT_RETENTION = (
    "SELECT retention_days, keep_rollups, updated_at FROM privacy_config WHERE project_id = $1"
)
UPSERT_RETENTION = """
INSERT INTO privacy_config (project_id, retention_days, keep_rollups, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (project_id) DO UPDATE
SET retention_days = EXCLUDED.retention_days, keep_rollups = EXCLUDED.keep_rollups,
    updated_at = now()
RETURNING retention_days, keep_rollups, updated_at
"""


class PrivacyError(Exception):
    """A privacy request refused: its code and a sentence saying what to send instead."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class Subject(msgspec.Struct, omit_defaults=True, rename="camel"):
    """Whom a request is about, as its ids; absent ones are left out."""

    user_id: str | None = None
    anonymous_id: str | None = None
    account_id: str | None = None


class PrivacyRequest(msgspec.Struct, kw_only=True):
    id: str  # del_<16 hex>
    project_id: str
    kind: str
    status: str
    subject: Subject | None  # None once the deletion is done: only digests remain
    receipt: dict[str, Any]
    error: str | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RetentionConfig(msgspec.Struct, kw_only=True):
    retention_days: int | None = None  # None: events are kept
    keep_rollups: bool = True
    updated_at: datetime | None = None


_encoder = msgspec.json.Encoder()
_decode_subject = msgspec.json.Decoder(Subject).decode
_decode_receipt = msgspec.json.Decoder(dict[str, Any]).decode


def request_of(row: Any) -> PrivacyRequest:
    """A request from a row whose JSON columns were read as text."""
    subject = row["subject"]
    return PrivacyRequest(
        id=row["id"],
        project_id=row["project_id"],
        kind=row["kind"],
        status=row["status"],
        subject=_decode_subject(subject) if subject is not None else None,
        receipt=_decode_receipt(row["receipt"]) if row["receipt"] is not None else {},
        error=row["error"],
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def subject_digests(project_id: str, subject: Subject) -> list[tuple[SubjectKind, str]]:
    """(kind, digest) of each id of the subject."""
    pairs: list[tuple[SubjectKind, str | None]] = [
        ("user", subject.user_id),
        ("anonymous", subject.anonymous_id),
        ("account", subject.account_id),
    ]
    return [(kind, subject_digest(project_id, kind, value)) for kind, value in pairs if value]


def _checked_subject(
    user_id: str | None, anonymous_id: str | None, account_id: str | None
) -> Subject:
    values = {"userId": user_id, "anonymousId": anonymous_id, "accountId": account_id}
    for name, value in values.items():
        if value is None:
            continue
        if not value.strip():
            raise PrivacyError("invalid_subject", f"{name} is blank: send the id, or leave it out")
        if len(value) > MAX_ID_CHARS:
            raise PrivacyError(
                "invalid_subject",
                f"{name} is {len(value)} characters; ids are at most {MAX_ID_CHARS}",
            )
        if "\x00" in value:
            raise PrivacyError("invalid_subject", f"{name} holds U+0000, which no id can hold")
    if user_id is None and anonymous_id is None and account_id is None:
        raise PrivacyError(
            "subject_required",
            "name whom to delete: send userId, anonymousId and/or accountId "
            "(each as the id your events carry)",
        )
    return Subject(user_id=user_id, anonymous_id=anonymous_id, account_id=account_id)


async def create_deletion(
    conn: Connection,
    project_id: str,
    *,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    account_id: str | None = None,
    requested_by: str,
) -> PrivacyRequest:
    """Queue a deletion; the subject's events are suppressed from this transaction's commit."""
    subject = _checked_subject(user_id, anonymous_id, account_id)
    pairs = subject_digests(project_id, subject)
    request_id = "del_" + secrets.token_hex(8)
    async with conn.transaction():
        row = await conn.fetchrow(
            INSERT_REQUEST,
            request_id,
            project_id,
            _encoder.encode(subject).decode(),
            [digest for _, digest in pairs],
            requested_by,
        )
        await conn.execute(
            INSERT_SUPPRESSIONS,
            project_id,
            request_id,
            [kind for kind, _ in pairs],
            [digest for _, digest in pairs],
        )
    return request_of(row)


async def get_request(conn: Connection, project_id: str, request_id: str) -> PrivacyRequest | None:
    row = await conn.fetchrow(SELECT_REQUEST, project_id, request_id)
    return request_of(row) if row is not None else None


async def list_requests(
    conn: Connection,
    project_id: str,
    *,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[PrivacyRequest]:
    """Newest first; ``after`` is the (created_at, id) of the last request of the page before."""
    before_at, before_id = after if after is not None else (None, None)
    rows = await conn.fetch(LIST_REQUESTS, project_id, before_at, before_id, limit)
    return [request_of(row) for row in rows]


async def get_retention(conn: Connection, project_id: str) -> RetentionConfig:
    row = await conn.fetchrow(SELECT_RETENTION, project_id)
    if row is None:
        return RetentionConfig()
    return RetentionConfig(
        retention_days=row["retention_days"],
        keep_rollups=row["keep_rollups"],
        updated_at=row["updated_at"],
    )


async def set_retention(
    conn: Connection, project_id: str, *, retention_days: int | None, keep_rollups: bool
) -> RetentionConfig:
    if retention_days is not None and not 1 <= retention_days <= 36500:
        raise PrivacyError(
            "invalid_retention",
            "retention_days must be between 1 and 36500, or null to keep events",
        )
    row = await conn.fetchrow(UPSERT_RETENTION, project_id, retention_days, keep_rollups)
    assert row is not None
    return RetentionConfig(
        retention_days=row["retention_days"],
        keep_rollups=row["keep_rollups"],
        updated_at=row["updated_at"],
    )
