"""``/console/…``: the shell for every console path, and the hashed assets."""

from __future__ import annotations

import secrets
from html import escape
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from cxloop.console.assets import ConsoleBundle

__all__ = ["ConsoleController", "console_csp"]

_IMMUTABLE = "public, max-age=31536000, immutable"


def console_csp(nonce: str) -> str:
    """Same origin only. Scripts and styles from files, or carrying this answer's nonce (the
    survey preview hands it to the widget, which adds its styles with it); no inline
    anything else, no plugins, no framing of the console by other sites."""
    return (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data: blob:; font-src 'self'; "
        "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'self'"
    )


def page_of(route: str) -> str | None:
    """The page the browser's router will show for a console path (console/src/main.js ROUTES),
    so the shell can preload its chunks; None for paths the router answers itself."""
    parts = [part for part in route.split("/") if part]
    if not parts:
        return "portfolio"
    if parts[0] == "accounts":
        return "account" if len(parts) > 1 else "accounts"
    return (
        parts[0] if parts[0] in ("feedback", "alerts", "surveys", "settings", "preview") else None
    )


def shell(bundle: ConsoleBundle, nonce: str, route: str = "/") -> bytes:
    script = escape(bundle.names["console.js"])
    style = escape(bundle.names["console.css"])
    page = page_of(route)
    chunks = [*bundle.preload, *(bundle.pages.get(page, ()) if page else ())]
    preloads = "".join(
        f'<link rel="modulepreload" href="/console/assets/{escape(chunk)}">' for chunk in chunks
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        "<title>cxloop console</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/console/assets/{style}">'
        f'<script type="module" src="/console/assets/{script}" nonce="{nonce}"></script>'
        f"{preloads}"
        '</head><body><div id="app"><noscript>The cxloop console needs JavaScript. '
        "The same data is in the private API: /schema.</noscript></div></body></html>\n"
    ).encode()


def _bundle(request: Request[Any, Any, Any]) -> ConsoleBundle:
    bundle: ConsoleBundle | None = request.app.state.console_bundle
    if bundle is not None:
        bundle = request.app.state.console_bundle = bundle.current()
    if bundle is None:
        raise NotFoundException(
            "the console is not built into this installation: run `npm run build` in console/"
        )
    return bundle


class ConsoleController(Controller):
    path = "/console"
    tags = ["console"]
    include_in_schema = False

    @get("/assets/{name:str}", sync_to_thread=False)
    def console_asset(
        self, request: Request[Any, Any, Any], name: FromPath[str]
    ) -> Response[bytes]:
        asset = _bundle(request).assets.get(name)
        if asset is None:
            raise NotFoundException(
                f"no console asset {name!r} (reload the page: the console was updated)"
            )
        headers = {"cache-control": _IMMUTABLE, "etag": asset.etag, "vary": "accept-encoding"}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(b"", status_code=304, headers=headers)
        body = asset.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = asset.gzipped
            headers["content-encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)

    @get(["/", "/{route:path}"], sync_to_thread=False)
    def console_page(
        self, request: Request[Any, Any, Any], route: FromPath[str] = "/"
    ) -> Response[bytes] | Redirect:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        if raw_path.split(b"?", 1)[0] == b"/console":
            return Redirect("/console/", status_code=308)
        nonce = secrets.token_urlsafe(16)
        return Response(
            shell(_bundle(request), nonce, route),
            media_type="text/html",
            headers={
                "cache-control": "no-cache",
                "content-security-policy": console_csp(nonce),
                # The survey preview frames a console page; no other site may.
                "x-frame-options": "SAMEORIGIN",
            },
        )
