"""``/v1/alerts`` (secret key): follow-up of low ratings by customer success."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from cxloop.access import Principal
from cxloop.alerts import store
from cxloop.alerts.model import AlertPatch, NoteInput, Reason, Status
from cxloop.alerts.schemas import (
    Alert,
    AlertBulkPatch,
    AlertPage,
    BulkUpdate,
    alert_of,
)
from cxloop.api import ApiError, Audit, Db, Page, PrincipalDep, ProjectId, Transaction, found
from cxloop.surveys import Kind

__all__ = ["AlertsController"]

_MAX_ID = 2**63 - 1


def _not_found(alert_id: int) -> ApiError:
    return ApiError(404, "alert_not_found", f"no alert {alert_id} in this project")


def _checked_id(alert_id: int) -> int:
    if not 1 <= alert_id <= _MAX_ID:
        raise _not_found(alert_id)
    return alert_id


class AlertsController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]

    @get(
        "/",
        permission="alerts:read",
        summary="Alerts, newest first, with filters and cursor pagination.",
    )
    async def list_alerts(
        self,
        project_id: ProjectId,
        db: Db,
        page: Page,
        status: FromQuery[Status | None] = None,
        account_id: FromQuery[str | None] = None,
        survey_id: FromQuery[str | None] = None,
        kind: FromQuery[Kind | None] = None,
        assignee: FromQuery[str | None] = None,
        reason: FromQuery[Reason | None] = None,
    ) -> AlertPage:
        rows = await store.list_alerts(
            db,
            project_id,
            status=status,
            account_id=account_id,
            survey_id=survey_id,
            kind=kind,
            assignee=assignee,
            reason=reason,
            after=page.after_time(int),
            limit=page.fetch,
        )
        shown, next_cursor = page.cut(
            rows, lambda last: [last["opened_at"].isoformat(), last["id"]]
        )
        return AlertPage(alerts=[alert_of(row) for row in shown], next_cursor=next_cursor)

    @get("/{alert_id:int}", permission="alerts:read", summary="One alert with its notes.")
    async def get_alert(self, project_id: ProjectId, db: Db, alert_id: FromPath[int]) -> Alert:
        row = found(
            await store.get_alert(db, project_id, _checked_id(alert_id)), _not_found(alert_id)
        )
        return alert_of(row)

    @patch(
        "/{alert_id:int}",
        permission="alerts:write",
        summary="Change an alert's status (open, acknowledged, resolved) and/or assignee.",
    )
    async def update_alert(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        alert_id: FromPath[int],
        data: JSONBody[AlertPatch],
    ) -> Alert:
        _check_change(data)
        status = None if data.status is msgspec.UNSET else data.status
        update = found(
            await store.update_alert(
                transaction,
                project_id,
                _checked_id(alert_id),
                status=status,
                assignee=data.assignee,
            ),
            _not_found(alert_id),
        )
        if update.changes:  # a PATCH that changes nothing is not an action worth a log entry
            await audit.record(transaction, "alert.updated", "alert", str(alert_id), update.changes)
        return alert_of(update.row)

    @post(
        "/bulk",
        permission="alerts:write",
        status_code=200,
        summary="Change the status and/or assignee of up to 500 alerts at once, all or none.",
        description="`ids` (1..500) must all be alerts of this project, or nothing changes and "
        "the 404 lists those that are not. Each alert that changes gets its own "
        "`alert.updated` audit entry and webhook event, as with `PATCH /v1/alerts/{id}`; "
        "`updated` counts them, `alerts` holds every alert named, in the order given.",
    )
    async def bulk_update_alerts(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        data: JSONBody[AlertBulkPatch],
    ) -> BulkUpdate:
        _check_change(data)
        ids = list(dict.fromkeys(data.ids))
        missing = await store.missing_alerts(transaction, project_id, ids)
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
            raise ApiError(
                404,
                "alert_not_found",
                f"{len(missing)} of the ids are not alerts in this project ({shown}); "
                "nothing was changed",
            )
        await store.lock_alerts(transaction, project_id, ids)
        status = None if data.status is msgspec.UNSET else data.status
        alerts = []
        updated = 0
        for alert_id in ids:
            update = await store.update_alert(
                transaction, project_id, alert_id, status=status, assignee=data.assignee
            )
            assert update is not None  # present and locked above
            if update.changes:
                updated += 1
                await audit.record(
                    transaction, "alert.updated", "alert", str(alert_id), update.changes
                )
            alerts.append(alert_of(update.row))
        return BulkUpdate(updated=updated, alerts=alerts)

    @post(
        "/{alert_id:int}/notes",
        permission="alerts:write",
        summary="Append a note ({text}) to an alert, signed by the caller; answers with the alert.",
        description="The note's author is the authenticated caller (the person's email, "
        "'token <name> (<email>)', or the secret key's prefix). A body `author` is ignored for "
        "a person or a token; with the secret key it is kept as '<author> (via secret key …)'.",
    )
    async def add_alert_note(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        principal: PrincipalDep,
        audit: Audit,
        alert_id: FromPath[int],
        data: JSONBody[NoteInput],
    ) -> Alert:
        if not data.text.strip():
            raise ApiError(400, "invalid_request", "text must not be blank")
        if data.author is not None and not data.author.strip():
            raise ApiError(400, "invalid_request", "author must not be blank (or leave it out)")
        row = found(
            await store.add_note(
                transaction,
                project_id,
                _checked_id(alert_id),
                note_author(principal, data.author),
                data.text,
                author_kind=principal.kind,
                author_id=principal.user_id,
            ),
            _not_found(alert_id),
        )
        # The note's length, not its text: the audit log outlives the notes' content.
        await audit.record(
            transaction, "alert.note_added", "alert", str(alert_id), {"length": len(data.text)}
        )
        return alert_of(row)


def _check_change(data: AlertPatch | AlertBulkPatch) -> None:
    if data.status is msgspec.UNSET and data.assignee is msgspec.UNSET:
        raise ApiError(
            400,
            "invalid_request",
            "nothing to change: send status (open, acknowledged, resolved) and/or assignee "
            "(a name, or null to unassign)",
        )
    if isinstance(data.assignee, str) and not data.assignee.strip():
        raise ApiError(400, "invalid_request", "assignee must not be blank; null unassigns")


def note_author(principal: Principal, given: str | None) -> str:
    """Who signs a note: the credential's label; a name typed with the secret key (which has
    no person behind it) is kept, marked as given through the key."""
    if principal.kind == "secret_key" and given is not None and given.strip():
        return f"{given.strip()} (via {principal.label})"
    return principal.label
