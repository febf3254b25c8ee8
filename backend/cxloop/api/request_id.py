"""The request id: the caller's ``X-Request-ID`` when it is sane, else a fresh one."""

from __future__ import annotations

import re
import secrets
from typing import Any

__all__ = ["REQUEST_ID_HEADER", "request_id_of"]

REQUEST_ID_HEADER = "x-request-id"
_STATE_KEY = "cxloop_request_id"
# Ids from proxies and tracing tools: UUIDs, hex, base64url; nothing a log line could be forged with.
_SANE = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id_of(scope: Any) -> str:
    """The id of this request, chosen once and remembered in the scope's state."""
    state: dict[str, Any] = scope.setdefault("state", {})
    request_id = state.get(_STATE_KEY)
    if request_id is None:
        incoming = next(
            (
                value
                for name, value in scope.get("headers", ())
                if name == REQUEST_ID_HEADER.encode()
            ),
            b"",
        )
        request_id = incoming.decode() if _SANE.fullmatch(incoming) else secrets.token_hex(16)
        state[_STATE_KEY] = request_id
    return str(request_id)
