"""Document every route's error answers in the OpenAPI schema, once, from what the app knows.

Litestar documents the success answer and its own validation error; the answers our shared
machinery gives (``{code, message}`` for bad text, unknown parameters, a missing key, a
database that is down, a body too large, a server error) are added here from each route's
declaration: its path parameters, its body, whether it sits behind the secret key.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    PathItem,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.routes import HTTPRoute

from cxloop.api.guard import is_private

__all__ = ["ERROR_SCHEMA_NAME", "document_error_answers", "document_raw_routes", "error_answer"]

ERROR_SCHEMA_NAME = "Error"
_SECURITY_NAME = "secretKey"

_ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["code", "message"],
    properties={
        "code": Schema(type=OpenAPIType.STRING, description="Stable, machine-readable."),
        "message": Schema(type=OpenAPIType.STRING, description="What happened and what to do."),
        "request_id": Schema(
            type=OpenAPIType.STRING, description="On 500s: quote it to the operator."
        ),
    },
    additional_properties=True,
    description="Every error answer: a code, a message saying what to do, sometimes details.",
)

_DESCRIPTIONS = {
    304: "Not modified (the ETag sent in If-None-Match is current).",
    400: "Invalid request: a parameter or body field is malformed, holds NUL or bytes that "
    "are not UTF-8, or a query parameter the route does not know was sent.",
    401: "Missing or unknown key.",
    403: "The credential lacks the permission this route needs (the answer names it).",
    404: "No such resource in this project.",
    413: "Request body too large.",
    500: "Server error: logged with the request id the answer carries.",
    503: "The database is unreachable (or the pipeline is behind): retry after Retry-After.",
}

# Answers a route gives beyond those of its kind: public routes whose answers depend on a write
# key, and a private route whose 404 is not about a path parameter.
_EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/v1/sdk/config"): (304, 401, 503),
    ("GET", "/readyz"): (503,),
    ("POST", "/v1/alerts/bulk"): (404,),  # ids that are not this project's alerts
}


def error_answer(
    status: int, description: str | None = None, *, request_id: bool = True
) -> OpenAPIResponse:
    """The documented ``{code, message}`` answer for ``status``: the shared description unless
    one is given, ``Retry-After`` on 429 and 503, ``X-Request-ID`` where the route sets it (the
    Litestar routes; the raw-ASGI ones set it on a 500 only). The one builder of error answers,
    for the routes Litestar describes and the hand-written path items alike."""
    text = description or _DESCRIPTIONS[status]
    if status == 304:
        return OpenAPIResponse(description=text)
    string = Schema(type=OpenAPIType.STRING)
    headers: dict[str, OpenAPIHeader | Reference] = {}
    if request_id:
        headers["X-Request-ID"] = OpenAPIHeader(schema=string, description="The request's id.")
    if status in (429, 503):
        headers["Retry-After"] = OpenAPIHeader(schema=string, description="Seconds to wait.")
    reference = Reference(ref=f"#/components/schemas/{ERROR_SCHEMA_NAME}")
    return OpenAPIResponse(
        description=text,
        headers=headers or None,
        content={"application/json": OpenAPIMediaType(schema=reference)},
    )


def _statuses(method: str, path: str, handler: HTTPRouteHandler, operation: Operation) -> set[int]:
    statuses = {400, 500, *_EXTRA.get((method, path), ())}
    parameters = operation.parameters or []
    if any(getattr(p, "param_in", None) == "path" for p in parameters):
        statuses.add(404)
    if operation.request_body is not None:
        statuses.add(413)
    if is_private(handler):
        statuses |= {401, 403, 503}
        operation.security = [{_SECURITY_NAME: []}]
    return statuses


def _loose_json(operation: Operation) -> None:
    # A handler that answers with pre-encoded JSON bytes is documented as a JSON *string*;
    # the body is a JSON document of its own, so say nothing rather than something false.
    for response in (operation.responses or {}).values():
        if not isinstance(response, OpenAPIResponse) or not response.content:
            continue
        media = response.content.get("application/json")
        schema = media.schema if media is not None else None
        if isinstance(schema, Schema) and schema.type == OpenAPIType.STRING and not schema.format:
            assert media is not None
            media.schema = Schema(description="A JSON document.")


def _declared_media_types(handler: HTTPRouteHandler, operation: Operation) -> None:
    # A handler that picks its content type per request (``format=csv|parquet``) says which
    # in ``opt={"answer_media_types": (...)}``; the schema lists them all for its success.
    media_types = handler.opt.get("answer_media_types")
    if not media_types:
        return
    for status, response in (operation.responses or {}).items():
        if status.startswith("2") and isinstance(response, OpenAPIResponse):
            binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            # A JSON answer is a document, not bytes: its schema (a ResponseSpec's) is kept.
            json_answer = (response.content or {}).get("application/json")
            response.content = {
                media: json_answer
                if media == "application/json" and json_answer is not None
                else OpenAPIMediaType(schema=binary)
                for media in media_types
            }


def _retry_after_and_no_content(responses: dict[str, Any]) -> None:
    """A 429/503 a route declares itself says Retry-After too; a 204 has no body to describe."""
    for status, response in responses.items():
        if not isinstance(response, OpenAPIResponse):
            continue
        if status == "204":
            response.content = None
        elif status in ("429", "503") and "Retry-After" not in (response.headers or {}):
            string = Schema(type=OpenAPIType.STRING)
            response.headers = {
                **(response.headers or {}),
                "Retry-After": OpenAPIHeader(schema=string, description="Seconds to wait."),
            }


def document_error_answers(app: Litestar) -> None:
    """Add the shared error answers to every operation of ``app``'s OpenAPI schema, in place."""
    openapi = app.openapi_schema
    if openapi.components is None:
        openapi.components = Components()
    if isinstance(openapi.components, Components):
        openapi.components.schemas[ERROR_SCHEMA_NAME] = _ERROR_SCHEMA
        openapi.components.security_schemes = {
            **(openapi.components.security_schemes or {}),
            _SECURITY_NAME: SecurityScheme(
                type="http",
                scheme="bearer",
                description="The project's secret key (`cxloop projects create` prints it) or a "
                "personal API token (`cxp_…`, docs/access.md); the console's session cookie works "
                "too, with `X-CSRF-Token` on changes.",
            ),
        }
    paths = openapi.paths or {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        item = paths.get(route.path_format)
        if item is None:
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(item, method.lower(), None)
                if not isinstance(operation, Operation):
                    continue
                responses: dict[str, Any] = dict(operation.responses or {})
                for status in sorted(_statuses(method, route.path_format, handler, operation)):
                    # Litestar's own 400 describes its exception shape, not the one we answer.
                    if status == 400 or str(status) not in responses:
                        responses[str(status)] = error_answer(status)
                _retry_after_and_no_content(responses)
                operation.responses = responses
                _loose_json(operation)
                _declared_media_types(handler, operation)


def document_raw_routes(
    app: Litestar,
    paths: dict[str, PathItem],
    schemas: dict[str, Schema],
    security_schemes: dict[str, SecurityScheme],
) -> None:
    """Add hand-written path items (routes Litestar cannot describe: raw ASGI) to the schema."""
    openapi = app.openapi_schema
    if openapi.components is None:
        openapi.components = Components()
    if isinstance(openapi.components, Components):
        openapi.components.schemas.update(schemas)
        openapi.components.security_schemes = {
            **(openapi.components.security_schemes or {}),
            **security_schemes,
        }
    for item in paths.values():
        for method in ("get", "post"):
            operation = getattr(item, method)
            if isinstance(operation, Operation):
                # What every route can answer (malformed HTTP, a server error), as elsewhere.
                responses: dict[str, Any] = dict(operation.responses or {})
                for status in (400, 500):
                    responses.setdefault(str(status), error_answer(status))
                operation.responses = dict(sorted(responses.items()))
    openapi.paths = {**(openapi.paths or {}), **paths}
