"""What third-party browser libraries fetch from their vendor's CDN, served by cxloop.

Segment's analytics-next loads ``GET <cdnURL>/v1/projects/<writeKey>/settings`` at start-up and
sends events to ``<protocol>://<apiHost>/<t|i|p|g|a>`` (the ingest short routes), plus a
metrics beacon to ``<apiHost>/m``. Pointing its ``cdnURL`` at cxloop is then the only change a
vendor makes: the settings name this server (``CXLOOP_PUBLIC_URL``, else the Host the request
reached) as the API host.

RudderStack's JavaScript SDK (v3) loads ``GET <configUrl>/sourceConfig/?writeKey=…`` (with an
``Authorization: Basic`` header, so behind a CORS preflight) and posts events to
``<dataPlaneUrl>/v1/<type>``. Exact snippets: docs/compatibility.md.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs

import msgspec
from litestar import Controller, Request, Response, asgi, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.enums import ParamType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    PathItem,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import PathParameter
from litestar.types import Receive, Scope, Send

from cxloop.api import error_answer
from cxloop.ingest.service import write_key_from_authorization
from cxloop.ops import Counter
from cxloop.projects import (
    WRITE_KEYS_STATE_KEY,
    LookupUnavailable,
    project_for_write_key,
)

if TYPE_CHECKING:
    from cxloop.projects import KeyResolver
    from cxloop.settings import Settings

__all__ = ["SegmentCompatController", "rudderstack_source_config", "source_config_openapi"]

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


class _Refusal(msgspec.Struct, frozen=True):
    status: int
    code: str
    message: str
    retry_after: bool = False


class SegmentSettings(msgspec.Struct):
    """analytics-next's CDN settings: the ``Segment.io`` destination names this server."""

    integrations: dict[str, Any]
    plan: dict[str, Any]
    edgeFunction: dict[str, Any]  # the library's names
    analyticsNextEnabled: bool
    middlewareSettings: dict[str, Any]
    enabledMiddleware: dict[str, Any]
    metrics: dict[str, Any]
    legacyVideoPluginsEnabled: bool
    remotePlugins: list[Any]


async def _refusal(keys: KeyResolver, write_key: str) -> _Refusal | None:
    """None when ``write_key`` is a project's, else why not."""
    try:
        if await project_for_write_key(keys, write_key) is not None:
            return None
    except LookupUnavailable:
        message = "the database is unreachable; retry shortly"
        return _Refusal(503, "database_unavailable", message, retry_after=True)
    return _Refusal(
        404, "invalid_write_key",
        "unknown write key: use a write key of a cxloop project (`cxloop projects list`)",
    )  # fmt: skip


def _origin(request: Request[Any, Any, Any], settings: Settings) -> tuple[str, str] | None:
    """(protocol, host[:port]) browsers reach this server at: ``CXLOOP_PUBLIC_URL`` when set
    (checked at start), else what this request reached; None when the Host header is unusable."""
    public_origin = settings.public_origin
    if public_origin:
        scheme, _, netloc = public_origin.partition("://")
        return scheme, netloc
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        return None
    scheme = request.url.scheme
    if settings.trust_forwarded_for:
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
        summary="Segment analytics-next start-up settings for a write key (public).",
        description="What analytics-next fetches from its `cdnURL`: names this server as the "
        "API host for the `Segment.io` destination. 404 for an unknown write key.",
        responses={
            200: ResponseSpec(
                SegmentSettings, generate_examples=False, description="The library's settings."
            )
        },
    )
    async def get_segment_settings(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        write_keys: NamedDependency[KeyResolver],
        write_key: Annotated[str, PathParameter(min_length=1, max_length=200)],
    ) -> Response[bytes]:
        refused = await _refusal(write_keys, write_key)
        if refused is not None:
            retry = {"retry-after": "5"} if refused.retry_after else {}
            return _error(refused.status, refused.code, refused.message, **retry)
        origin = _origin(request, settings)
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
        status_code=204,
        summary="analytics-next's metrics beacon: counted, not stored (public).",
        response_headers=[ResponseHeader(name=k, value=v) for k, v in _CORS.items()],
    )
    async def send_segment_metrics(self, request: Request[Any, Any, Any]) -> None:
        # The body (the library's own delivery counters) is not read: nothing to keep, and an
        # unread body costs the server nothing.
        _beacons(request).inc(1, "analytics-next")


# The source-config request carries Authorization (and Content-Type, Accept): a preflight.
_RUDDERSTACK_PREFLIGHT = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, Accept"),
    (b"access-control-max-age", b"86400"),
]


async def _send(send: Send, status: int, body: bytes, *headers: tuple[bytes, bytes]) -> None:
    start: Any = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"access-control-allow-origin", b"*"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    message: Any = {"type": "http.response.body", "body": body}
    await send(start)
    await send(message)


# A raw ASGI route: Litestar replaces an OPTIONS handler declared next to a GET with its own
# automatic answer, which has no CORS headers, and the SDK's request needs a preflight.
@asgi(path="/sourceConfig", name="rudderstack_source_config", copy_scope=False)
async def rudderstack_source_config(scope: Scope, receive: Receive, send: Send) -> None:
    """RudderStack JS SDK v3's start-up configuration for a write key (public): an enabled
    source with no device-mode destinations, so events go to the data plane (this server)
    only. The write key is the ``writeKey`` query parameter, else the Basic user name."""
    method = scope.get("method")
    if method == "OPTIONS":
        empty: Any = {"type": "http.response.body", "body": b""}
        await send(
            {"type": "http.response.start", "status": 204, "headers": _RUDDERSTACK_PREFLIGHT}
        )
        await send(empty)
        return
    if method != "GET":
        body = _encoder.encode({"code": "method_not_allowed", "message": "use GET"})
        await _send(send, 405, body, (b"allow", b"GET, OPTIONS"))
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), encoding="utf-8")
    authorization = next(
        (value.decode("latin-1") for name, value in scope["headers"] if name == b"authorization"),
        None,
    )
    key = query.get("writeKey", [""])[0] or write_key_from_authorization(authorization)
    if not key or len(key) > 200 or "\x00" in key:
        message = "send a cxloop write key as ?writeKey= or as the HTTP Basic user name"
        await _send(send, 401, _encoder.encode({"code": "missing_write_key", "message": message}))
        return
    refused = await _refusal(scope["app"].state[WRITE_KEYS_STATE_KEY], key)
    if refused is not None:
        retry = [(b"retry-after", b"5")] if refused.retry_after else []
        body = _encoder.encode({"code": refused.code, "message": refused.message})
        await _send(send, refused.status, body, *retry)
        return
    source = {
        "id": key,
        "name": "cxloop",
        "writeKey": key,
        "workspaceId": "cxloop",
        "enabled": True,
        # No statsCollection: the SDK then reports no errors or metrics of its own anywhere.
        "config": {},
        "destinations": [],
    }
    body = _encoder.encode({"isHosted": False, "source": source})
    await _send(send, 200, body, (b"cache-control", b"private, max-age=300"))


def source_config_openapi() -> tuple[dict[str, PathItem], dict[str, Schema]]:
    """``/sourceConfig`` in the OpenAPI schema (a raw ASGI route Litestar cannot describe):
    its path item and the schema of its answer."""
    source = Schema(type=OpenAPIType.OBJECT, additional_properties=True)
    answer = Schema(
        type=OpenAPIType.OBJECT,
        required=["isHosted", "source"],
        properties={"isHosted": Schema(type=OpenAPIType.BOOLEAN), "source": source},
    )
    operation = Operation(
        operation_id="getRudderstackSourceConfig",
        tags=["compatibility"],
        summary="RudderStack JS SDK v3 start-up configuration for a write key (public).",
        parameters=[
            Parameter(
                name="writeKey",
                param_in=ParamType.QUERY,
                required=False,
                schema=Schema(type=OpenAPIType.STRING, max_length=200),
                description="The write key; else the HTTP Basic user name.",
            )
        ],
        responses={
            "200": OpenAPIResponse(
                description="An enabled source with no device-mode destinations.",
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(ref="#/components/schemas/RudderstackSourceConfig")
                    )
                },
            ),
            "401": error_answer(401, "No write key.", request_id=False),
            "404": error_answer(404, "Unknown write key.", request_id=False),
            "405": error_answer(405, "Use GET.", request_id=False),
            "503": error_answer(
                503, "The key cannot be checked while the database is down.", request_id=False
            ),
        },
        security=[{"writeKey": []}, {}],
    )
    return {"/sourceConfig": PathItem(get=operation)}, {"RudderstackSourceConfig": answer}
