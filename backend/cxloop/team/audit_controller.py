"""``/v1/audit``: who did what to which object, newest first, with filters and cursors."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from cxloop.access import list_audit
from cxloop.api import Db, Page, ProjectId
from cxloop.team.audit_schemas import AuditPage

__all__ = ["AuditController"]

_Filter = Annotated[str | None, QueryParameter(max_length=200)]


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]

    @get(
        "/",
        permission="audit:read",
        summary="The audit log, newest first.",
        description="Filters: `action` (exact, or a prefix: `member` matches `member.*`), "
        "`object_type`, `object_id`, `actor` (an actor id or label, e.g. an email), `account_id` "
        "(entries about that account and about its alerts).",
    )
    async def list_audit(
        self,
        project_id: ProjectId,
        db: Db,
        page: Page,
        action: _Filter = None,
        object_type: _Filter = None,
        object_id: _Filter = None,
        actor: _Filter = None,
        account_id: _Filter = None,
    ) -> AuditPage:
        after = page.after(1, (int,))
        entries = await list_audit(
            db,
            project_id,
            before_id=after[0] if after else None,
            action=action,
            object_type=object_type,
            object_id=object_id,
            actor=actor,
            account_id=account_id,
            limit=page.fetch,
        )
        shown, next_cursor = page.cut(entries, lambda entry: [entry.id])
        return AuditPage(entries=list(shown), next_cursor=next_cursor)
