"""Surveys in PostgreSQL: definitions, status changes, the SDK config with account caps."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from cxloop.db import Connection
from cxloop.surveys.model import SurveyInput

__all__ = [
    "Survey",
    "active_config",
    "audit_details",
    "create_survey",
    "delete_survey",
    "get_survey",
    "list_responses",
    "list_surveys",
    "new_survey_id",
    "replace_survey",
    "set_status",
]

_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def new_survey_id() -> str:
    return "srv_" + "".join(secrets.choice(_B32) for _ in range(10))


class Survey(msgspec.Struct, kw_only=True):
    id: str
    status: str
    created_at: datetime
    updated_at: datetime
    definition: SurveyInput

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = msgspec.to_builtins(self.definition)
        return {
            "id": self.id,
            "status": self.status,
            **body,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _json(survey: SurveyInput) -> str:
    # As text with an explicit cast: works on connections with or without a jsonb codec.
    return msgspec.json.encode(survey).decode()


def _definition(value: Any) -> SurveyInput:
    if isinstance(value, str | bytes):
        return msgspec.json.decode(value, type=SurveyInput)
    return msgspec.convert(value, SurveyInput)


def _survey(row: asyncpg.Record) -> Survey:
    return Survey(
        id=row["id"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        definition=_definition(row["definition"]),
    )


async def create_survey(conn: Connection, project_id: str, survey: SurveyInput) -> Survey:
    row = await conn.fetchrow(
        """INSERT INTO surveys (project_id, id, name, kind, definition)
            VALUES ($1, $2, $3, $4, $5::text::jsonb) RETURNING id, status, created_at, updated_at, definition""",
        project_id,
        new_survey_id(),
        survey.name,
        survey.kind,
        _json(survey),
    )
    assert row is not None  # INSERT … RETURNING always returns the row
    return _survey(row)


async def list_surveys(
    conn: Connection, project_id: str, status: str | None = None
) -> list[Survey]:
    rows = await conn.fetch(
        """SELECT id, status, created_at, updated_at, definition FROM surveys
            WHERE project_id = $1 AND ($2::text IS NULL OR status = $2)
            ORDER BY created_at, id""",
        project_id,
        status,
    )
    return [_survey(row) for row in rows]


async def get_survey(conn: Connection, project_id: str, survey_id: str) -> Survey | None:
    row = await conn.fetchrow(
        "SELECT id, status, created_at, updated_at, definition FROM surveys WHERE project_id = $1 AND id = $2",
        project_id,
        survey_id,
    )
    return _survey(row) if row is not None else None


async def replace_survey(
    conn: Connection, project_id: str, survey_id: str, survey: SurveyInput
) -> Survey | None:
    row = await conn.fetchrow(
        """UPDATE surveys SET name = $3, kind = $4, definition = $5::text::jsonb, updated_at = now()
            WHERE project_id = $1 AND id = $2 RETURNING id, status, created_at, updated_at, definition""",
        project_id,
        survey_id,
        survey.name,
        survey.kind,
        _json(survey),
    )
    return _survey(row) if row is not None else None


async def set_status(
    conn: Connection, project_id: str, survey_id: str, status: str
) -> Survey | None:
    row = await conn.fetchrow(
        """UPDATE surveys SET status = $3, updated_at = now()
            WHERE project_id = $1 AND id = $2 RETURNING id, status, created_at, updated_at, definition""",
        project_id,
        survey_id,
        status,
    )
    return _survey(row) if row is not None else None


async def delete_survey(conn: Connection, project_id: str, survey_id: str) -> bool:
    result: str = await conn.execute(
        "DELETE FROM surveys WHERE project_id = $1 AND id = $2", project_id, survey_id
    )
    return result.endswith(" 1")


# What the browser needs of an active survey (no name, status, cap or timestamps).
_SDK_FIELDS = (
    "kind", "question", "follow_up", "feature", "trigger", "filters", "sample_percent",
    "frequency", "placement", "inline_selector",
)  # fmt: skip


async def active_config(
    conn: Connection, project_id: str, account_id: str | None
) -> list[dict[str, Any]]:
    """Active surveys for the SDK, leaving out those whose account cap is reached."""
    rows = await conn.fetch(
        """SELECT s.id, s.definition
           FROM surveys AS s
           WHERE s.project_id = $1 AND s.status = 'active'
             AND NOT (
               $2::text IS NOT NULL AND jsonb_typeof(s.definition -> 'account_cap') = 'object' AND (
                 SELECT count(*) FROM survey_responses AS r
                 WHERE r.project_id = s.project_id AND r.survey_id = s.id
                   AND r.account_id = $2
                   AND r.responded_at > now() - make_interval(
                         days => (s.definition -> 'account_cap' ->> 'period_days')::int)
               ) >= (s.definition -> 'account_cap' ->> 'max_responses')::int
             )
           ORDER BY s.created_at, s.id""",
        project_id,
        account_id,
    )
    surveys = []
    for row in rows:
        definition = msgspec.to_builtins(_definition(row["definition"]))
        surveys.append(
            {"id": row["id"], **{k: definition[k] for k in _SDK_FIELDS if k in definition}}
        )
    return surveys


# Responses, one per response_id, newest first, keyset-paginated on (responded_at, id).
_RESPONSES = """
SELECT response_id, survey_id, kind, score, comment, feature, user_id, anonymous_id,
       account_id, partial, responded_at, updated_at
FROM survey_responses
WHERE project_id = $1
  AND ($2::text IS NULL OR survey_id = $2)
  AND ($3::text IS NULL OR kind = $3)
  AND ($4::text IS NULL OR account_id = $4)
  AND ($5::text IS NULL OR user_id = $5)
  AND ($6::timestamptz IS NULL OR responded_at >= $6)
  AND ($7::timestamptz IS NULL OR responded_at < $7)
  AND ($8::float8 IS NULL OR score >= $8)
  AND ($9::float8 IS NULL OR score <= $9)
  AND ($10::boolean IS NULL OR (comment IS NOT NULL AND comment <> '') = $10)
  AND ($11::timestamptz IS NULL OR (responded_at, response_id) < ($11, $12))
ORDER BY responded_at DESC, response_id DESC
LIMIT $13
"""


async def list_responses(
    conn: Connection,
    project_id: str,
    *,
    survey_id: str | None,
    kind: str | None,
    account_id: str | None,
    user_id: str | None,
    since: datetime | None,
    until: datetime | None,
    min_score: float | None,
    max_score: float | None,
    has_comment: bool | None,
    after: tuple[datetime | None, str | None],
    limit: int,
) -> list[asyncpg.Record]:
    after_time, after_id = after
    return await conn.fetch(
        _RESPONSES,
        project_id, survey_id, kind, account_id, user_id, since, until, min_score, max_score,
        has_comment, after_time, after_id, limit,
    )  # fmt: skip


def audit_details(survey: Survey, **extra: Any) -> dict[str, Any]:
    """What the audit log says about a survey change: its name, kind and status, never texts."""
    return {
        "name": survey.definition.name,
        "kind": survey.definition.kind,
        "status": survey.status,
        **extra,
    }
