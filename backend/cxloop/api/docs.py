"""The API docs at ``/schema``: Swagger UI served from this server, so they work offline.

Litestar's render plugins load their scripts from CDNs, which a private deployment cannot
reach. Swagger UI comes from the ``swagger-ui-bundle-v2`` wheel (Apache-2.0) instead, and the
page has no inline script (its start-up code is ``docs.js`` below), so it runs under the
strict Content-Security-Policy HTML answers get (``api/headers.py``).
"""

from __future__ import annotations

import functools
import hashlib
import html
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin
from litestar.params import FromPath
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

__all__ = ["DOCS_ASSET_ROUTE", "OfflineSwaggerPlugin", "openapi_config", "operation_id"]

DOCS_ASSET_ROUTE = "cxloop_docs_asset"
# The files of the bundle the page uses, by the name it asks for.
_BUNDLE_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
# Swagger UI's start-up, as a file: reads the schema's address from the page.
_DOCS_JS = b"""window.addEventListener('load', function () {
  var root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.getAttribute('data-spec-url'),
    dom_id: '#swagger-ui',
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""
_DOCS_CSS = b"body { margin: 0; background: #fafafa; }\n"
_CACHE = "public, max-age=3600"


class _Asset:
    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@functools.cache
def _asset(name: str) -> _Asset | None:
    """A docs file, read once; None for any name that is not one of them."""
    if name == "docs.js":
        return _Asset(_DOCS_JS, "text/javascript; charset=utf-8")
    if name == "docs.css":
        return _Asset(_DOCS_CSS, "text/css; charset=utf-8")
    if name not in _BUNDLE_FILES:
        return None
    path = Path(str(swagger_ui_path)) / name
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    return _Asset(path.read_bytes(), media_type)


@get(
    "/assets/{file:str}",
    name=DOCS_ASSET_ROUTE,
    include_in_schema=False,
    sync_to_thread=False,
)
def docs_asset(request: Request[Any, Any, Any], file: FromPath[str]) -> Response[bytes]:
    asset = _asset(file)
    if asset is None:
        raise NotFoundException(f"no docs file {file!r}")
    headers = {"cache-control": _CACHE, "etag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI from this server's own ``/schema/assets/``: no CDN, no inline script."""

    def __init__(self, path: str | Sequence[str] = ("/", "/swagger")) -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        def asset(name: str) -> str:
            return html.escape(request.app.route_reverse(DOCS_ASSET_ROUTE, file=name))

        title = html.escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = html.escape(self.get_openapi_json_route(request))
        page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} API</title>
<link rel="icon" type="image/png" href="{asset("favicon-32x32.png")}">
<link rel="stylesheet" href="{asset("swagger-ui.css")}">
<link rel="stylesheet" href="{asset("docs.css")}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec_url}"></div>
<script src="{asset("swagger-ui-bundle.js")}"></script>
<script src="{asset("docs.js")}"></script>
</body>
</html>
"""
        return page.encode()

    def receive_router(self, router: Router) -> None:
        router.register(docs_asset)


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """``/schema`` (Swagger UI, also at ``/schema/swagger``), ``openapi.json`` and ``.yaml``."""
    return OpenAPIConfig(
        title=title,
        version=version,
        render_plugins=[OfflineSwaggerPlugin(), JsonRenderPlugin(), YamlRenderPlugin()],
        operation_id_creator=operation_id,
    )


def operation_id(handler: HTTPRouteHandler, method: Any, path: list[Any]) -> str:
    """The handler's name in camelCase (``get_account_health`` → ``getAccountHealth``): one
    style everywhere, unique because a test holds the names unique."""
    first, *rest = handler.handler_name.split("_")
    return first + "".join(word.title() for word in rest)
