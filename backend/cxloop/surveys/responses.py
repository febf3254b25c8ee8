"""``GET /v1/responses``: survey responses, one per ``response_id``, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from cxloop.api import Db, Page, ProjectId
from cxloop.surveys.ratings import Kind
from cxloop.surveys.schemas import SurveyResponse, SurveyResponsePage
from cxloop.surveys.store import list_responses

__all__ = ["ResponsesController"]


class ResponsesController(Controller):
    path = "/v1/responses"
    tags = ["responses"]

    @get(
        "/",
        permission="responses:read",
        summary="Survey responses, newest first, with filters and cursor pagination.",
    )
    async def list_responses(
        self,
        project_id: ProjectId,
        db: Db,
        page: Page,
        survey_id: FromQuery[str | None] = None,
        kind: FromQuery[Kind | None] = None,
        account_id: FromQuery[str | None] = None,
        user_id: FromQuery[str | None] = None,
        since: Annotated[datetime | None, QueryParameter(name="from")] = None,
        until: Annotated[datetime | None, QueryParameter(name="to")] = None,
        min_score: FromQuery[float | None] = None,
        max_score: FromQuery[float | None] = None,
        has_comment: FromQuery[bool | None] = None,
    ) -> SurveyResponsePage:
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
            after=page.after_time(str) or (None, None),
            limit=page.fetch,
        )
        shown, next_cursor = page.cut(
            rows, lambda last: [last["responded_at"].isoformat(), last["response_id"]]
        )
        responses = [
            SurveyResponse(
                **{
                    **dict(row),
                    "responded_at": row["responded_at"].isoformat(),
                    "updated_at": row["updated_at"].isoformat(),
                }
            )
            for row in shown
        ]
        return SurveyResponsePage(responses=responses, next_cursor=next_cursor)
