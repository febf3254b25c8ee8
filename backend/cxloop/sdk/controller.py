"""``/sdk/…``: the browser SDK, at a stable path and at an immutable versioned path."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from cxloop.sdk.assets import SdkBundle

__all__ = ["SdkController"]

# The stable path follows releases of the major version: short cache, revalidated by ETag.
STABLE_CACHE = "public, max-age=300, stale-while-revalidate=86400"
# A versioned path never changes content (and is what an SRI hash pins).
VERSIONED_CACHE = "public, max-age=31536000, immutable"


def _serve(request: Request[Any, Any, Any], channel: str, name: str) -> Response[bytes]:
    bundle: SdkBundle | None = request.app.state.sdk_bundle
    if bundle is None:
        raise NotFoundException("the SDK is not built on this server (run `make install-test`)")
    if channel == "v1":
        cache = STABLE_CACHE
    elif channel == bundle.version:
        cache = VERSIONED_CACHE
    else:
        raise NotFoundException(
            f"SDK version {channel} is not served here; use v1 or {bundle.version}"
        )
    asset = bundle.assets.get(name)
    if asset is None:
        raise NotFoundException(f"no SDK file {name}")
    headers = {
        "cache-control": cache,
        "etag": asset.etag,
        # Cross-origin <script crossorigin integrity=…> needs CORS to check the SRI hash.
        "access-control-allow-origin": "*",
        "x-content-type-options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(
        asset.body, media_type="text/javascript; charset=utf-8", headers=headers, status_code=200
    )


class SdkController(Controller):
    path = "/sdk"
    tags = ["sdk"]

    @get(
        "/{channel:str}/{name:str}",
        summary="The browser SDK: /sdk/v1/… (stable) or /sdk/<version>/… (immutable).",
        media_type="text/javascript; charset=utf-8",
    )
    async def get_sdk_file(
        self, request: Request[Any, Any, Any], channel: FromPath[str], name: FromPath[str]
    ) -> Response[bytes]:
        return _serve(request, channel, name)
