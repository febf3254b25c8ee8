"""``GET /v1/responses``: survey responses, one per ``response_id``, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from cxloop.api import ApiError, Cursor, Db, ProjectId
from cxloop.surveys.ratings import Kind
from cxloop.surveys.schemas import SurveyResponse, SurveyResponsePage
from cxloop.surveys.store import list_responses

__all__ = ["ResponsesController"]


class ResponsesController(Controller):
    path = "/v1/responses"
    tags = ["responses"]

    @get("/", summary="Survey responses, newest first, with filters and cursor pagination.")
    async def list_responses(
        self,
        project_id: ProjectId,
        db: Db,
        survey_id: FromQuery[str | None] = None,
        kind: FromQuery[Kind | None] = None,
        account_id: FromQuery[str | None] = None,
        user_id: FromQuery[str | None] = None,
        since: Annotated[datetime | None, QueryParameter(name="from")] = None,
        until: Annotated[datetime | None, QueryParameter(name="to")] = None,
        min_score: FromQuery[float | None] = None,
        max_score: FromQuery[float | None] = None,
        has_comment: FromQuery[bool | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        cursor: FromQuery[str | None] = None,
    ) -> SurveyResponsePage:
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
        rows = await list_responses(
            db,
            project_id,
            survey_id=survey_id,
            kind=kind,
            account_id=account_id,
            user_id=user_id,
            since=since,
            until=until,
            min_score=min_score,
            max_score=max_score,
            has_comment=has_comment,
            after=(after_time, after_id),
            limit=limit + 1,
        )
        page = rows[:limit]
        responses = [
            SurveyResponse(
                **{
                    **dict(row),
                    "responded_at": row["responded_at"].isoformat(),
                    "updated_at": row["updated_at"].isoformat(),
                }
            )
            for row in page
        ]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = Cursor.encode([last["responded_at"].isoformat(), last["response_id"]])
        return SurveyResponsePage(responses=responses, next_cursor=next_cursor)
