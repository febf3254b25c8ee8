"""``GET /v1/responses``: survey responses, one per ``response_id``, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import Parameter

from cxloop.api.auth import database_pool, project_id_of
from cxloop.api.errors import ApiError
from cxloop.api.pagination import Cursor

__all__ = ["ResponsesController"]

Kind = Literal["nps", "csat", "ces", "thumbs", "emoji"]

_QUERY = """
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


class ResponsesController(Controller):
    path = "/v1/responses"
    tags = ["responses"]
    dependencies = {"project_id": Provide(project_id_of)}

    @get("/", summary="Survey responses, newest first, with filters and cursor pagination.")
    async def list_responses(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        survey_id: str | None = None,
        kind: Kind | None = None,
        account_id: str | None = None,
        user_id: str | None = None,
        since: Annotated[datetime | None, Parameter(query="from")] = None,
        until: Annotated[datetime | None, Parameter(query="to")] = None,
        min_score: float | None = None,
        max_score: float | None = None,
        has_comment: bool | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        after_time: datetime | None = None
        after_id: str | None = None
        if cursor:
            raw_time, after_id = Cursor.decode(cursor, 2, (str, str))
            try:
                after_time = datetime.fromisoformat(raw_time)
            except (TypeError, ValueError) as exc:
                raise ApiError(
                    400, "invalid_cursor", "the cursor is not one this API returned"
                ) from exc
        async with database_pool(request).acquire() as conn:
            rows = await conn.fetch(
                _QUERY,
                project_id,
                survey_id,
                kind,
                account_id,
                user_id,
                since,
                until,
                min_score,
                max_score,
                has_comment,
                after_time,
                after_id,
                limit + 1,
            )
        page = rows[:limit]
        responses = [
            {
                **dict(row),
                "responded_at": row["responded_at"].isoformat(),
                "updated_at": row["updated_at"].isoformat(),
            }
            for row in page
        ]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = Cursor.encode([last["responded_at"].isoformat(), last["response_id"]])
        return {"responses": responses, "next_cursor": next_cursor}
