"""The OpenAPI schema documents every answer the shared machinery can give."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cxloop.app import create_app
from cxloop.settings import Settings

_METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    # Building the app connects to nothing: the URL is only used by the lifespan.
    app = create_app(Settings(database_url="postgresql://unused/unused", data_dir=data_dir))
    document: dict[str, Any] = app.openapi_schema.to_schema()
    return document


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def _is_error_answer(response: dict[str, Any]) -> bool:
    ref = response["content"]["application/json"]["schema"]["$ref"]
    return bool(ref == "#/components/schemas/Error")


def test_error_schema_is_code_and_message(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message"]
    assert schema["components"]["securitySchemes"]["secretKey"]["scheme"] == "bearer"


def test_every_operation_documents_400_and_500_as_code_and_message(
    schema: dict[str, Any],
) -> None:
    for method, path, operation in _operations(schema):
        for status in ("400", "500"):
            assert _is_error_answer(operation["responses"][status]), (method, path, status)


def test_private_operations_document_auth_and_database_answers(schema: dict[str, Any]) -> None:
    private = [op for op in _operations(schema) if op[1].startswith(("/v1/surveys", "/v1/alerts"))]
    assert len(private) > 10
    for method, path, operation in private:
        assert operation["security"] == [{"secretKey": []}], (method, path)
        for status in ("401", "503"):
            assert _is_error_answer(operation["responses"][status]), (method, path, status)
        assert "Retry-After" in operation["responses"]["503"]["headers"]
        if "{" in path:
            assert _is_error_answer(operation["responses"]["404"]), (method, path)
        if "requestBody" in operation:
            assert _is_error_answer(operation["responses"]["413"]), (method, path)


def test_sdk_config_documents_its_public_answers(schema: dict[str, Any]) -> None:
    responses = schema["paths"]["/v1/sdk/config"]["get"]["responses"]
    assert {"200", "304", "400", "401", "500", "503"} <= set(responses)
    # Pre-encoded JSON bytes are not documented as a JSON string.
    assert responses["200"]["content"]["application/json"]["schema"].get("type") != "string"


def test_readyz_documents_503(schema: dict[str, Any]) -> None:
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]


def test_every_operation_has_a_unique_camel_case_operation_id(schema: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _, _, operation in _operations(schema)]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids)
    assert len(ids) == len(set(ids))


def test_every_operation_documents_a_typed_success_answer(schema: dict[str, Any]) -> None:
    for method, path, operation in _operations(schema):
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert successes, (method, path)
        for status, response in successes.items():
            if status == "204":
                continue
            content = response.get("content")
            assert content, (method, path, status)
            for media_type, media in content.items():
                answer = media["schema"]
                # A named schema, or a plain type (text, binary files): never "anything".
                assert "$ref" in answer or "type" in answer, (method, path, media_type)


def test_json_answers_refer_to_named_schemas(schema: dict[str, Any]) -> None:
    named = set(schema["components"]["schemas"])
    for method, path, operation in _operations(schema):
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json")
            if media is None or not status.startswith("2"):
                continue
            ref = media["schema"].get("$ref", "")
            assert ref.removeprefix("#/components/schemas/") in named, (method, path, status)


@pytest.mark.parametrize("route", ["batch", "b", "track", "t", "identify", "page", "alias"])
def test_ingest_routes_are_described_with_body_answers_and_write_key(
    schema: dict[str, Any], route: str
) -> None:
    operation = schema["paths"][f"/v1/{route}"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    expected = "IngestBatch" if route in ("batch", "b") else "Event"
    assert body == f"#/components/schemas/{expected}"
    ack = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ack == {"$ref": "#/components/schemas/IngestAnswer"}
    for status in ("400", "401", "413", "429", "500", "503"):
        assert _is_error_answer(operation["responses"][status]), (route, status)
    assert {"writeKey": []} in operation["security"]
    assert schema["components"]["securitySchemes"]["writeKey"]["scheme"] == "basic"


def test_every_private_route_is_behind_the_secret_key(schema: dict[str, Any]) -> None:
    prefixes = ("/v1/surveys", "/v1/responses", "/v1/health", "/v1/accounts", "/v1/alerts",
                "/v1/webhooks")  # fmt: skip
    private = [op for op in _operations(schema) if op[1].startswith(prefixes)]
    assert {path.split("/")[2] for _, path, _ in private} == {p.split("/")[2] for p in prefixes}
    for method, path, operation in private:
        assert operation["security"] == [{"secretKey": []}], (method, path)


def test_every_documented_retry_answer_carries_retry_after(schema: dict[str, Any]) -> None:
    # One builder (api.openapi.error_answer) for Litestar's routes and the hand-written ones:
    # the source-config 503, which sends Retry-After, once documented none.
    retries = [
        (method, path, status, response)
        for method, path, operation in _operations(schema)
        for status, response in operation["responses"].items()
        if status in ("429", "503")
    ]
    assert any(path == "/sourceConfig" for _, path, _, _ in retries)
    missing = [
        (method, path, status)
        for method, path, status, response in retries
        if "Retry-After" not in (response.get("headers") or {})
    ]
    assert missing == []
