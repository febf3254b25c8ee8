"""``audit``: what a state-changing handler records, bound to the caller and the request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request

from cxloop.access import Principal, anonymize_ip, record_audit
from cxloop.api.auth import app_settings, client_address, principal_of
from cxloop.api.request_id import request_id_of
from cxloop.db import Connection

__all__ = ["AuditTrail", "provide_audit"]


class AuditTrail:
    """Records audit entries for one request: who (the principal), from where, which request.

    Call it on the handler's ``transaction`` so the entry commits with the change::

        await audit.record(transaction, "survey.updated", "survey", survey_id, {"status": ...})
    """

    def __init__(self, principal: Principal, address: str | None, request_id: str | None) -> None:
        self.principal = principal
        self.address = address
        self.request_id = request_id

    async def record(
        self,
        conn: Connection,
        action: str,
        object_type: str,
        object_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        await record_audit(
            conn,
            self.principal,
            action,
            object_type,
            object_id,
            details,
            address=self.address,
            request_id=self.request_id,
        )


def provide_audit(request: Request[Any, Any, Any]) -> AuditTrail:
    # The address as ingest sees it (X-Forwarded-For only behind a trusted proxy), anonymised.
    client = client_address(request, app_settings(request.app.state))
    return AuditTrail(
        principal_of(request),
        anonymize_ip(client) if client else None,
        request_id_of(request.scope),
    )
