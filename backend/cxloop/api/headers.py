"""Security headers on every answer the server sends, raw-ASGI ingest routes and 404s included.

A Litestar ``before_send`` hook, so it sees each response start once, whatever produced it
(controllers, the ingest handlers, the router's own 404/405, exception handlers). Every answer
gets ``X-Content-Type-Options: nosniff``; HTML gets a Content-Security-Policy (self only, no
inline script: a page that needs one sets its own policy with a nonce, e.g. ``/demo/``), and
framing and referrer policies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HTML_CSP", "security_headers"]

NOSNIFF = (b"x-content-type-options", b"nosniff")
# The API docs (Swagger UI, served from this server) and any other HTML page: same origin only.
HTML_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HTML_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_CSP = b"content-security-policy"


async def security_headers(message: Any, scope: Any) -> None:
    """``before_send`` hook: add the headers to an ``http.response.start`` message."""
    if message["type"] != "http.response.start":
        return
    headers = message.get("headers")
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers or ())
    html = has_nosniff = has_csp = has_frame = has_referrer = False
    for name, value in headers:
        name = name.lower()
        if name == b"content-type":
            html = value[:9].lower() == b"text/html"
        elif name == b"x-content-type-options":
            has_nosniff = True
        elif name == _CSP:
            has_csp = True
        elif name == b"x-frame-options":
            has_frame = True
        elif name == b"referrer-policy":
            has_referrer = True
    if not has_nosniff:
        headers.append(NOSNIFF)
    if html:
        if not has_csp:
            headers.append((_CSP, HTML_CSP.encode()))
        if not has_frame:
            headers.append(_HTML_HEADERS[0])
        if not has_referrer:
            headers.append(_HTML_HEADERS[1])
