"""uvicorn's httptools protocol with deadlines, so slow clients cannot hold connections open.

uvicorn bounds only the idle time between requests (``timeout_keep_alive``). A client that
sends a header line, or a body byte, every few seconds would keep a connection (and whatever
the application holds for it) forever. Here every request must send its complete headers
within ``header_timeout_s`` and its whole body within ``body_timeout_s`` (the ingest routes
answer 408 themselves at that deadline; this is the backstop for every route), and headers
are capped in size. One address may have ``max_opening_per_client`` new connections that
have not yet sent their headers; past that it is refused at once, so one client cannot spend
the worker's file descriptors on idle connections. A malformed request gets a JSON
``{code, message}`` 400 with CORS, like every other ingest answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEADER_BYTES", "guarded_http_protocol", "protocol_options"]

# The request line and headers together (nginx allows 4 × 8 KiB; llhttp has no limit).
MAX_HEADER_BYTES = 64 * 1024
# The ingest route answers 408 at the body deadline itself; this backstop comes after it.
BODY_BACKSTOP_GRACE_S = 2.0


class _HeadersTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout_s: ClassVar[float] = 10.0
    body_timeout_s: ClassVar[float] = 10.0
    # New connections from one address still sending their first request's headers (0: no
    # cap), counted in ``opening`` for every connection of this class, i.e. of one worker.
    max_opening_per_client: ClassVar[int] = 64
    opening: ClassVar[dict[str, int]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The running deadline (loop time; 0.0: none) and the one timer that watches it.
        # Arming or clearing a deadline only sets the float: the timer is rescheduled when it
        # fires, not twice a request (two timers made and cancelled per request were the
        # protocol's largest cost on single-event requests).
        self._deadline_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._opening_from: str | None = None

    def _arm(self, seconds: float) -> None:
        self._deadline_at = self.loop.time() + seconds
        if self._timer is None:
            self._timer = self.loop.call_later(self._check_every(), self._expired)
        # Otherwise the timer fires at or before this deadline: it was scheduled at most
        # _check_every() after an earlier moment, and no deadline is shorter than that.

    @classmethod
    def _check_every(cls) -> float:
        return min(cls.header_timeout_s, cls.body_timeout_s + BODY_BACKSTOP_GRACE_S)

    def _disarm(self) -> None:
        self._deadline_at = 0.0

    def _stop_timer(self) -> None:
        self._deadline_at = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        deadline = self._deadline_at
        if not deadline:
            return  # the request met its deadline; the next one arms a new timer
        left = deadline - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_later(min(left, self._check_every()), self._expired)
            return
        self._deadline_at = 0.0
        if not self.transport.is_closing():
            # DEBUG: under attack INFO would be a line per connection.
            self.logger.debug(
                "closing a connection from %s: too slow to send its request", self.client
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_opening_per_client:
            # One address opening connections it never uses would otherwise exhaust the
            # worker's file descriptors within one header deadline.
            address = self.client[0] if self.client else ""
            opening = self.opening.get(address, 0)
            if opening >= self.max_opening_per_client:
                self.logger.debug("refusing a connection from %s: too many opening", address)
                transport.close()
                return
            self.opening[address] = opening + 1
            self._opening_from = address
        self._arm(self.header_timeout_s)

    def _opened(self) -> None:
        address = self._opening_from
        if address is not None:
            self._opening_from = None
            left = self.opening[address] - 1
            if left:
                self.opening[address] = left
            else:
                del self.opening[address]

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._opened()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Bytes on an idle kept-alive connection start a request (uvicorn stops its idle
        # timer on any byte, even a lone CRLF): from now on the header deadline runs.
        if self.timeout_keep_alive_task is not None and not self._deadline_at:
            self._arm(self.header_timeout_s)
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if not self._deadline_at:
            self._arm(self.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _HeadersTooLarge

    def on_headers_complete(self) -> None:
        self._opened()
        self._arm(self.body_timeout_s + BODY_BACKSTOP_GRACE_S)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._header_bytes > MAX_HEADER_BYTES:
            status, reason = 431, b"Request Header Fields Too Large"
            code = "headers_too_large"
            message = f"the request line and headers exceed {MAX_HEADER_BYTES} bytes"
        else:
            status, reason = 400, b"Bad Request"
            code = "invalid_http"
            message = "the request is not valid HTTP/1.1; check the request line and headers"
        body = json.dumps({"code": code, "message": message}).encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(
            b"content-type: application/json\r\n"
            b"content-length: %d\r\n"
            b"access-control-allow-origin: *\r\n"
            b"x-content-type-options: nosniff\r\n"
            b"connection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def guarded_http_protocol(
    *, header_timeout_s: float, body_timeout_s: float, max_opening_per_client: int
) -> type[HttpToolsProtocol]:
    """The protocol class to pass as ``uvicorn.Config(http=...)``."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout_s": header_timeout_s,
            "body_timeout_s": body_timeout_s,
            "max_opening_per_client": max_opening_per_client,
            "opening": {},
        },
    )


def protocol_options(
    *, header_timeout_s: float, body_timeout_s: float, max_opening_per_client: int
) -> dict[str, Any]:
    """The protocol arguments of ``uvicorn.Config``: the guarded HTTP protocol, and no
    WebSocket upgrades (no route uses them; an upgrade to an ingest route got a bare 500)."""
    return {
        "http": guarded_http_protocol(
            header_timeout_s=header_timeout_s,
            body_timeout_s=body_timeout_s,
            max_opening_per_client=max_opening_per_client,
        ),
        "ws": "none",
    }
