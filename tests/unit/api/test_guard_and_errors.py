"""The private API's shared answers: bad text, unknown parameters, database down, server errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Annotated, Any

import asyncpg
import msgspec
import pytest
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.testing import TestClient, create_test_client

from cxloop.api import ApiGuardMiddleware, api_exception_handlers
from cxloop.api.errors import HTTP_ERRORS_METRIC
from cxloop.ops.metrics import Counter, Registry


async def _project_id() -> str:
    return "project-1"


class Body(msgspec.Struct):
    name: str


class Private(Controller):
    path = "/v1/things"
    dependencies = {"project_id": Provide(_project_id)}

    @get("/")
    async def list_things(
        self, project_id: NamedDependency[str], kind: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        return {"project": project_id, "kind": kind}

    @get("/{thing_id:str}")
    async def read(
        self, project_id: NamedDependency[str], thing_id: FromPath[str]
    ) -> dict[str, Any]:
        return {"id": thing_id}

    @post("/")
    async def create(
        self, project_id: NamedDependency[str], data: JSONBody[Body]
    ) -> dict[str, Any]:
        return {"name": data.name}

    @get("/fail/{how:str}")
    async def fail(self, project_id: NamedDependency[str], how: FromPath[str]) -> None:
        raise _FAILURES[how]


@get("/public")
async def public(limit: FromQuery[int] = 1) -> dict[str, int]:
    return {"limit": limit}


@get("/renamed")
async def renamed(
    group_id: Annotated[str | None, QueryParameter(name="groupId", max_length=3)] = None,
) -> dict[str, str | None]:
    return {"group": group_id}


_FAILURES: dict[str, Exception] = {
    "bug": RuntimeError("a bug"),
    "nul": asyncpg.exceptions.CharacterNotInRepertoireError(
        'invalid byte sequence for encoding "UTF8": 0x00'
    ),
    "jsonb_nul": asyncpg.exceptions.UntranslatableCharacterError(
        "unsupported Unicode escape sequence"
    ),
    "range": asyncpg.exceptions.NumericValueOutOfRangeError("value out of range"),
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "starting": asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    "shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection"),
    "gone": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
    "lake_file": FileNotFoundError(2, "no such lake file"),
}


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def client(registry: Registry) -> Iterator[TestClient[Any]]:
    with create_test_client(
        route_handlers=[Private, public, renamed],
        exception_handlers=api_exception_handlers,
        middleware=[ApiGuardMiddleware()],
        state=State({"runtime": SimpleNamespace(registry=registry)}),
        raise_server_exceptions=False,
    ) as test_client:
        yield test_client


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["message"]
    return body


@pytest.mark.parametrize(
    "url",
    [
        "/v1/things?kind=%00",
        "/v1/things?kind=a%00b",
        "/v1/things?k%00ind=x",
        "/v1/things/%00",
        "/v1/things/abc%00def",
        "/public?limit=%00",
    ],
)
def test_nul_in_path_or_query_is_a_400(client: TestClient[Any], url: str) -> None:
    _error(client.get(url), 400, "invalid_character")


def test_query_that_is_not_utf8_is_a_400(client: TestClient[Any]) -> None:
    _error(client.get("/v1/things?kind=%ff%fe"), 400, "invalid_character")


def test_unknown_query_parameter_is_named_with_the_valid_ones(client: TestClient[Any]) -> None:
    body = _error(client.get("/v1/things?kind=a&feature=x&zz=1"), 400, "unknown_parameter")
    assert body["unknown"] == ["feature", "zz"]
    assert body["valid"] == ["kind"]
    assert "feature, zz" in body["message"] and "kind" in body["message"]
    # A route with path parameters and no query parameters accepts none.
    body = _error(client.get("/v1/things/t1?kind=a"), 400, "unknown_parameter")
    assert body["valid"] == []


def test_declared_parameters_still_work(client: TestClient[Any]) -> None:
    assert client.get("/v1/things?kind=a").json() == {"project": "project-1", "kind": "a"}
    assert client.get("/v1/things/t1").json() == {"id": "t1"}


def test_public_routes_ignore_unknown_parameters(client: TestClient[Any]) -> None:
    # Only routes behind the secret key are strict: a public caller may add a cache buster.
    assert client.get("/public?limit=3&_=123").json() == {"limit": 3}


@pytest.mark.parametrize("how", ["nul", "jsonb_nul"])
def test_text_postgresql_refuses_is_a_400(client: TestClient[Any], how: str) -> None:
    _error(client.get(f"/v1/things/fail/{how}"), 400, "invalid_character")


def test_value_out_of_range_for_postgresql_is_a_400(client: TestClient[Any]) -> None:
    _error(client.get("/v1/things/fail/range"), 400, "invalid_value")


@pytest.mark.parametrize("how", ["refused", "starting", "shutdown", "gone"])
def test_database_down_is_a_503_with_retry_after(
    client: TestClient[Any], registry: Registry, how: str
) -> None:
    response = client.get(f"/v1/things/fail/{how}")
    _error(response, 503, "database_unavailable")
    assert int(response.headers["retry-after"]) > 0
    counter = registry._metrics[HTTP_ERRORS_METRIC]
    assert isinstance(counter, Counter)
    assert counter.values == {("/v1/things/fail/{how}", "503"): 1.0}


def test_missing_file_outside_asyncpg_is_not_called_a_database_outage(
    client: TestClient[Any],
) -> None:
    _error(client.get("/v1/things/fail/lake_file"), 500, "internal_error")


def test_unhandled_error_is_logged_counted_and_carries_a_request_id(
    client: TestClient[Any], registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="cxloop.api"):
        response = client.get("/v1/things/fail/bug")
    body = _error(response, 500, "internal_error")
    request_id = response.headers["x-request-id"]
    assert body["request_id"] == request_id
    assert request_id in body["message"]
    [record] = [r for r in caplog.records if r.name == "cxloop.api"]
    assert request_id in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "a bug" not in body["message"]  # no internals in the answer
    counter = registry._metrics[HTTP_ERRORS_METRIC]
    assert isinstance(counter, Counter)
    assert counter.values == {("/v1/things/fail/{how}", "500"): 1.0}


def test_sane_incoming_request_id_is_kept_and_insane_one_replaced(
    client: TestClient[Any],
) -> None:
    kept = client.get("/v1/things", headers={"X-Request-ID": "trace-01.abc:9"})
    assert kept.headers["x-request-id"] == "trace-01.abc:9"
    replaced = client.get("/v1/things", headers={"X-Request-ID": "bad id\twith spaces"})
    assert replaced.headers["x-request-id"] not in ("", "bad id\twith spaces")
    assert len(replaced.headers["x-request-id"]) == 32
    # Refusals by the guard itself carry it too.
    refused = client.get("/v1/things?nope=1", headers={"X-Request-ID": "r-1"})
    assert refused.status_code == 400 and refused.headers["x-request-id"] == "r-1"


def test_body_validation_error_is_a_400_with_code(client: TestClient[Any]) -> None:
    _error(client.post("/v1/things", json={"name": 5}), 400, "invalid_request")


def test_request_object_is_untouched_by_the_guard(client: TestClient[Any]) -> None:
    # The guard reads the query itself; the handler still gets its parameters decoded.
    assert client.get("/v1/things?kind=%C3%A9t%C3%A9").json()["kind"] == "été"


def test_options_lists_every_method_of_the_path(client: TestClient[Any]) -> None:
    # Litestar's automatic answer listed only the first handler's method (POST, not GET).
    response = client.options("/v1/things")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, OPTIONS, POST"
    assert response.headers["x-request-id"]


def test_path_that_is_not_utf8_is_a_400(client: TestClient[Any]) -> None:
    _error(client.get("/v1/things/%C3%28"), 400, "invalid_character")
    assert client.get("/v1/things/%C3%A9").json() == {"id": "é"}


def test_json_body_nested_too_deeply_is_a_400(client: TestClient[Any]) -> None:
    deep = '{"name": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post("/v1/things", content=deep, headers={"content-type": "application/json"})
    _error(response, 400, "too_deep")


def test_validation_errors_name_parameters_as_the_caller_sent_them(
    client: TestClient[Any],
) -> None:
    body = _error(client.get("/renamed?groupId=abcdef"), 400, "invalid_request")
    assert body["message"].startswith("groupId: ")
    assert body["details"][0]["key"] == "groupId"
    assert client.get("/renamed?groupId=abc").json() == {"group": "abc"}
