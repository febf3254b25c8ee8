"""The ingest routes in the OpenAPI schema, written by hand.

They are raw ASGI handlers (ARCHITECTURE decision 1), so Litestar knows nothing of their
bodies or answers; these path items say it, so a client generated from ``/schema/openapi.json``
covers ingest too. The route names and the event types come from the service's own tables.
"""

from __future__ import annotations

from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    PathItem,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

from cxloop.api import error_answer
from cxloop.ingest.service import ROUTE_TYPES, SHORT_ROUTES

__all__ = ["WRITE_KEY_SECURITY", "ingest_components", "ingest_path_items"]

WRITE_KEY_SECURITY = "writeKey"
_ERROR_REF = Reference(ref="#/components/schemas/Error")
_STRING = Schema(type=OpenAPIType.STRING)
_OBJECT = Schema(type=OpenAPIType.OBJECT, additional_properties=True)
_ID = Schema(
    one_of=[_STRING, Schema(type=OpenAPIType.NUMBER), Schema(type=OpenAPIType.NULL)],
    description="A string (numbers are accepted and stored as their text).",
)
_TIME = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME)

# What an event and a batch both carry (a batch's apply to each of its events).
_ENVELOPE: dict[str, Schema | Reference] = {
    "context": _OBJECT,
    "integrations": _OBJECT,
    "sentAt": _TIME,
    "writeKey": Schema(
        type=OpenAPIType.STRING, description="The write key, when not sent as Basic auth."
    ),
}

_EVENT = Schema(
    type=OpenAPIType.OBJECT,
    description="A Segment-spec event. Fields not listed here are kept as sent.",
    properties={
        "type": Schema(
            type=OpenAPIType.STRING,
            enum=[t for t in ROUTE_TYPES.values() if t is not None],
            description="Required in a batch; implied by the route otherwise.",
        ),
        "messageId": _ID,
        "userId": _ID,
        "anonymousId": _ID,
        "groupId": _ID,
        "previousId": _ID,
        "event": Schema(type=OpenAPIType.STRING, description="track: the event's name."),
        "name": Schema(type=OpenAPIType.STRING, description="page/screen: the page's name."),
        "category": _STRING,
        "properties": _OBJECT,
        "traits": _OBJECT,
        "timestamp": _TIME,
        "originalTimestamp": _TIME,
        **_ENVELOPE,
    },
    additional_properties=True,
)
_BATCH = Schema(
    type=OpenAPIType.OBJECT,
    required=["batch"],
    properties={
        "batch": Schema(type=OpenAPIType.ARRAY, items=Reference(ref="#/components/schemas/Event")),
        **_ENVELOPE,
    },
    additional_properties=True,
)
_REJECTION = Schema(
    type=OpenAPIType.OBJECT,
    required=["index", "messageId", "reason", "detail"],
    properties={
        "index": Schema(type=OpenAPIType.INTEGER, description="The event's place in the body."),
        "messageId": _STRING,
        "reason": Schema(type=OpenAPIType.STRING, description="Stable, machine-readable."),
        "detail": _STRING,
    },
)
_ACK = Schema(
    type=OpenAPIType.OBJECT,
    required=["accepted", "rejected"],
    properties={
        "accepted": Schema(type=OpenAPIType.INTEGER, description="Events durably logged."),
        "rejected": Schema(
            type=OpenAPIType.ARRAY,
            items=Reference(ref="#/components/schemas/IngestRejection"),
            description="Events refused, each with why; they are kept as failed events.",
        ),
    },
)

_ERRORS = {
    400: "The body is not JSON, not the route's shape, or not valid gzip.",
    401: "No write key, or an unknown one.",
    405: "Use POST.",
    408: "The body did not arrive in time.",
    413: "The body (or, decompressed, its content) is too large.",
    415: "A Content-Encoding other than gzip or deflate.",
    429: "The project's rate limit, or too many requests still sending from one address.",
    503: "Too many requests in flight, the log is full, or an unknown key cannot be checked "
    "while the database is down: retry after Retry-After.",
}


def _operation(route: str, path: str) -> Operation:
    body_ref = "IngestBatch" if route == "batch" else "Event"
    name = route[0].upper() + route[1:]
    short = path.rsplit("/", 1)[1] != route
    return Operation(
        operation_id=f"ingest{name}" + ("Short" if short else ""),
        tags=["ingest"],
        summary=(
            "Send a batch of events (up to the batch limit; each judged on its own)."
            if route == "batch"
            else f"Send one {route} event."
        )
        + (f" Short alias of /v1/{route}." if short else ""),
        description="Answers only once the events are durably logged (fsync). The body may "
        "be gzip- or deflate-encoded (Content-Encoding). Public: the write key is the HTTP "
        "Basic user name, or `writeKey` in the body.",
        request_body=RequestBody(
            required=True,
            content={
                "application/json": OpenAPIMediaType(
                    schema=Reference(ref=f"#/components/schemas/{body_ref}")
                )
            },
        ),
        responses={
            "200": OpenAPIResponse(
                description="The verdict: how many events were logged, which were refused.",
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(ref="#/components/schemas/IngestAnswer")
                    )
                },
            ),
            **{
                str(status): error_answer(status, _ERRORS[status], request_id=False)
                for status in sorted(_ERRORS)
            },
        },
        security=[{WRITE_KEY_SECURITY: []}, {}],
    )


def ingest_path_items() -> dict[str, PathItem]:
    """``/v1/<route>`` and its short alias, for every ingest route."""
    items: dict[str, PathItem] = {}
    for route in ROUTE_TYPES:
        shorts = [short for short, long in SHORT_ROUTES.items() if long == route]
        for path in (f"/v1/{route}", *(f"/v1/{short}" for short in shorts)):
            items[path] = PathItem(post=_operation(route, path))
    return items


def ingest_components() -> tuple[dict[str, Schema], dict[str, SecurityScheme]]:
    """The schemas the path items refer to, and the write key's security scheme."""
    schemas = {
        "Event": _EVENT,
        "IngestBatch": _BATCH,
        "IngestAnswer": _ACK,
        "IngestRejection": _REJECTION,
    }
    security = {
        WRITE_KEY_SECURITY: SecurityScheme(
            type="http",
            scheme="basic",
            description="The project's write key as the user name, no password (`writeKey:`).",
        )
    }
    return schemas, security
