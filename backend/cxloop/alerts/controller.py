"""``/v1/alerts`` (secret key): follow-up of low ratings by customer success."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter

from cxloop.alerts import store
from cxloop.alerts.model import AlertPatch, NoteInput, Status, alert_json
from cxloop.api.auth import database_pool, project_id_of
from cxloop.api.errors import ApiError
from cxloop.api.pagination import Cursor

__all__ = ["AlertsController"]

Kind = Literal["nps", "csat", "ces", "thumbs", "emoji"]
_MAX_ID = 2**63 - 1


def _not_found(alert_id: int) -> ApiError:
    return ApiError(404, "alert_not_found", f"no alert {alert_id} in this project")


def _checked_id(alert_id: int) -> int:
    if not 1 <= alert_id <= _MAX_ID:
        raise _not_found(alert_id)
    return alert_id


def _after(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    raw_time, after_id = Cursor.decode(cursor, 2)
    try:
        if not isinstance(after_id, int) or not isinstance(raw_time, str):
            raise TypeError
        return datetime.fromisoformat(raw_time), after_id
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API returned") from exc


class AlertsController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]
    dependencies = {"project_id": Provide(project_id_of)}

    @get(
        "/",
        operation_id="listAlerts",
        summary="Alerts, newest first, with filters and cursor pagination.",
    )
    async def list_alerts(
        self,
        request: Request[Any, Any, Any],
        project_id: str,
        status: Status | None = None,
        account_id: str | None = None,
        survey_id: str | None = None,
        kind: Kind | None = None,
        assignee: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            rows = await store.list_alerts(
                conn,
                project_id,
                status=status,
                account_id=account_id,
                survey_id=survey_id,
                kind=kind,
                assignee=assignee,
                after=_after(cursor),
                limit=limit + 1,
            )
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = Cursor.encode([page[-1]["opened_at"].isoformat(), page[-1]["id"]])
        return {"alerts": [alert_json(row) for row in page], "next_cursor": next_cursor}

    @get("/{alert_id:int}", operation_id="getAlert", summary="One alert with its notes.")
    async def read(
        self, request: Request[Any, Any, Any], project_id: str, alert_id: int
    ) -> dict[str, Any]:
        async with database_pool(request).acquire() as conn:
            row = await store.get_alert(conn, project_id, _checked_id(alert_id))
        if row is None:
            raise _not_found(alert_id)
        return alert_json(row)

    @patch(
        "/{alert_id:int}",
        operation_id="updateAlert",
        summary="Change an alert's status (open, acknowledged, resolved) and/or assignee.",
    )
    async def update(
        self, request: Request[Any, Any, Any], project_id: str, alert_id: int, data: AlertPatch
    ) -> dict[str, Any]:
        if data.status is msgspec.UNSET and data.assignee is msgspec.UNSET:
            raise ApiError(
                400,
                "invalid_request",
                "nothing to change: send status (open, acknowledged, resolved) and/or assignee "
                "(a name, or null to unassign)",
            )
        if isinstance(data.assignee, str) and not data.assignee.strip():
            raise ApiError(400, "invalid_request", "assignee must not be blank; null unassigns")
        status = None if data.status is msgspec.UNSET else data.status
        async with database_pool(request).acquire() as conn:
            row = await store.update_alert(
                conn, project_id, _checked_id(alert_id), status=status, assignee=data.assignee
            )
        if row is None:
            raise _not_found(alert_id)
        return alert_json(row)

    @post(
        "/{alert_id:int}/notes",
        operation_id="addAlertNote",
        summary="Append a note ({author, text}) to an alert; answers with the alert.",
    )
    async def add_note(
        self, request: Request[Any, Any, Any], project_id: str, alert_id: int, data: NoteInput
    ) -> dict[str, Any]:
        if not data.text.strip() or not data.author.strip():
            raise ApiError(400, "invalid_request", "author and text must not be blank")
        async with database_pool(request).acquire() as conn:
            row = await store.add_note(
                conn, project_id, _checked_id(alert_id), data.author, data.text
            )
        if row is None:
            raise _not_found(alert_id)
        return alert_json(row)
