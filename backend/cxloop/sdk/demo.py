"""``/demo/…``: the widget-demo app, with the snippet's host and write key filled in.

The demo app (``widget-demo/``) is a static "vendor" web app with the cxloop snippet pasted
in. Its host and write key are placeholders that are replaced when it is served: the host is
the address the browser used, the write key the demo project's (``state/demo.json``, written
by ``cxloop demo``).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

import cxloop

__all__ = ["DemoController", "find_demo_dir"]

HOST_PLACEHOLDER = b"__CXLOOP_HOST__"
KEY_PLACEHOLDER = b"__CXLOOP_WRITE_KEY__"
_TEXT_TYPES = (".html", ".js", ".css", ".json", ".svg", ".txt")


def find_demo_dir() -> Path | None:
    package = Path(cxloop.__file__).resolve().parent
    for candidate in (package / "_widget_demo", package.parent.parent / "widget-demo"):
        if (candidate / "index.html").exists():
            return candidate
    return None


def _demo_write_key(request: Request[Any, Any, Any]) -> str | None:
    path: Path = request.app.state.demo_state_file
    try:
        value = json.loads(path.read_text()).get("write_key")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None


class DemoController(Controller):
    path = "/demo"
    tags = ["demo"]
    include_in_schema = False

    # Small local files: read on the event loop's thread rather than paying for a hop.
    @get(["/", "/{name:path}"], summary="The widget-demo app.", sync_to_thread=False)
    def demo_file(
        self, request: Request[Any, Any, Any], name: str = "/"
    ) -> Response[bytes] | Redirect:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        if raw_path.split(b"?", 1)[0] == b"/demo":
            return Redirect("/demo/", status_code=308)  # the pages link relatively
        root: Path | None = request.app.state.demo_dir
        if root is None:
            raise NotFoundException("the widget-demo app is not installed with this server")
        relative = name.strip("/") or "index.html"
        path = (root / relative).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            raise NotFoundException(f"no demo file {relative!r}")
        body = path.read_bytes()
        if path.suffix in _TEXT_TYPES:
            write_key = _demo_write_key(request)
            if write_key is None and KEY_PLACEHOLDER in body:
                raise NotFoundException(
                    "no demo project yet: run `cxloop demo` (or `make run`) against this data "
                    "directory first"
                )
            host = str(request.base_url).rstrip("/").encode()
            body = body.replace(HOST_PLACEHOLDER, host)
            body = body.replace(KEY_PLACEHOLDER, (write_key or "").encode())
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in _TEXT_TYPES:
            media_type += "; charset=utf-8"
        return Response(
            body,
            media_type=media_type,
            headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
        )
