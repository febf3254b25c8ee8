"""What third-party browser libraries fetch from their vendor's CDN, served by cxloop.

Segment's analytics-next loads ``GET <cdnURL>/v1/projects/<writeKey>/settings`` at start-up and
sends events to ``<protocol>://<apiHost>/<t|i|p|g|a>`` (the ingest short routes), plus a
metrics beacon to ``<apiHost>/m``. Pointing its ``cdnURL`` at cxloop is then the only change a
vendor makes: the settings name this server (``CXLOOP_PUBLIC_URL``, else the Host the request
reached) as the API host. Exact snippets: docs/compatibility.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from cxloop.ingest.asgi import INGEST_STATE_KEY
from cxloop.ingest.service import IngestService, LookupUnavailable
from cxloop.ops.metrics import Counter

__all__ = ["SegmentCompatController"]

# A host name or an IP literal with an optional port: anything else in the Host header is
# not echoed into the settings (they name where the library sends events).
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)
_CORS = {"access-control-allow-origin": "*", "vary": "Host, X-Forwarded-Proto"}
# The library's sampling default; metrics beacons are counted, never stored.
_METRICS_SAMPLE_RATE = 0.1
_encoder = msgspec.json.Encoder()


def _error(status: int, code: str, message: str, **headers: str) -> Response[bytes]:
    body = _encoder.encode({"code": code, "message": message})
    return Response(
        body, status_code=status, media_type="application/json", headers={**_CORS, **headers}
    )


def _beacons(request: Request[Any, Any, Any]) -> Counter:
    counter: Counter = request.app.state.runtime.registry.counter(
        "cxloop_compat_metrics_beacons_total",
        "Metrics beacons of third-party browser libraries (analytics-next POST /v1/m), counted "
        "and discarded.",
        ("library",),
    )
    return counter


def _origin(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    """(protocol, host[:port]) browsers reach this server at: ``CXLOOP_PUBLIC_URL`` when set
    (checked at start), else what this request reached; None when the Host header is unusable."""
    public_url: str | None = request.app.state.settings.public_url
    if public_url:
        parts = urlsplit(public_url.strip())
        return parts.scheme, parts.netloc
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        return None
    scheme = request.url.scheme
    ingest: IngestService = request.app.state[INGEST_STATE_KEY]
    if ingest.trust_forwarded_for:
        # Behind your own TLS-terminating proxy the browser's scheme is the proxy's.
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if forwarded in ("http", "https"):
            scheme = forwarded
    return ("https" if scheme == "https" else "http"), host


class SegmentCompatController(Controller):
    """Segment analytics-next's CDN settings and metrics beacon."""

    path = "/v1"
    tags = ["compatibility"]

    @get(
        "/projects/{write_key:str}/settings",
        operation_id="segmentSettings",
        summary="Segment analytics-next start-up settings for a write key (public).",
        description="What analytics-next fetches from its `cdnURL`: names this server as the "
        "API host for the `Segment.io` destination. 404 for an unknown write key.",
    )
    async def settings(
        self,
        request: Request[Any, Any, Any],
        write_key: Annotated[str, Parameter(min_length=1, max_length=200)],
    ) -> Response[bytes]:
        ingest: IngestService = request.app.state[INGEST_STATE_KEY]
        project_id = ingest.keys.resolve(write_key)
        if project_id is None:
            try:
                project_id = await ingest.keys.resolve_miss(write_key)
            except LookupUnavailable:
                return _error(
                    503, "database_unavailable", "the database is unreachable; retry shortly",
                    **{"retry-after": "5"},
                )  # fmt: skip
        if project_id is None:
            return _error(
                404, "invalid_write_key",
                "unknown write key: use a write key of a cxloop project (`cxloop projects list`)",
            )  # fmt: skip
        origin = _origin(request)
        if origin is None:
            return _error(400, "invalid_host", "the Host header is not a host name and port")
        protocol, host = origin
        api_host = host + "/v1"
        segment_io = {
            "apiKey": write_key,
            "apiHost": api_host,
            "protocol": protocol,
            "unbundledIntegrations": [],
            "addBundledMetadata": True,
            "maybeBundledConfigIds": {},
        }
        body = _encoder.encode(
            {
                "integrations": {"Segment.io": segment_io},
                "plan": {
                    "track": {"__default": {"enabled": True, "integrations": {}}},
                    "identify": {"__default": {"traits": {}}},
                    "group": {"__default": {"traits": {}}},
                },
                "edgeFunction": {},
                "analyticsNextEnabled": True,
                "middlewareSettings": {},
                "enabledMiddleware": {},
                # analytics-next sends its beacon over https unless the page's own load options
                # say otherwise: on a plain-http server it would only fail, so it is switched off.
                "metrics": {
                    "sampleRate": _METRICS_SAMPLE_RATE if protocol == "https" else 0,
                    "host": api_host,
                    "flushTimer": 30000,
                },
                "legacyVideoPluginsEnabled": False,
                "remotePlugins": [],
            }
        )
        headers = {**_CORS, "cache-control": "public, max-age=300"}
        return Response(body, media_type="application/json", headers=headers)

    @post(
        "/m",
        operation_id="segmentMetrics",
        status_code=204,
        summary="analytics-next's metrics beacon: counted, not stored (public).",
    )
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[None]:
        # The body (the library's own delivery counters) is not read: nothing to keep, and an
        # unread body costs the server nothing.
        _beacons(request).inc(1, "analytics-next")
        return Response(None, status_code=204, headers=_CORS)
