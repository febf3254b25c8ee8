"""The one exception the access stores raise for a refusal a caller can fix."""

from __future__ import annotations

__all__ = ["AccessError"]


class AccessError(Exception):
    """A refusal with a ``code`` and a ``message`` that says what to do.

    ``status`` is the HTTP status a controller answers with (400 by default, 401, 409, 429);
    ``retry_after`` (seconds) is set when waiting is the fix (a lockout, a rate limit).
    """

    def __init__(
        self, code: str, message: str, *, status: int = 400, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after
