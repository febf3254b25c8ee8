"""What the private and public layers hand to handlers, and in which order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from litestar import Controller, Litestar, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.testing import TestClient

from cxloop.api import api_exception_handlers
from cxloop.api.deps import private_router, public_router


class _Connection:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.log.append("begin")
        try:
            yield
        except BaseException:
            self.log.append("rollback")
            raise
        self.log.append("commit")


class _Pool:
    def __init__(self) -> None:
        self.log: list[str] = []

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Connection]:
        self.log.append("acquire")
        try:
            yield _Connection(self.log)
        finally:
            self.log.append("release")


class _Auth:
    async def project_id(self, pool: object, secret_key: str) -> str | None:
        return "prj_1" if secret_key == "sk_good" else None


class Things(Controller):
    path = "/v1/things"

    @get("/", operation_id="listThings", permission="surveys:read")
    async def list_things(
        self, project_id: NamedDependency[str], db: NamedDependency[Any]
    ) -> dict[str, str]:
        return {"project": project_id}

    @post("/{how:str}", operation_id="changeThing", status_code=200, permission="surveys:write")
    async def change(
        self,
        project_id: NamedDependency[str],
        transaction: NamedDependency[Any],
        how: FromPath[str],
    ) -> dict[str, str]:
        if how == "fail":
            raise RuntimeError("a bug")
        return {"done": how}


@get("/public", operation_id="getPublic")
async def public_route(db: NamedDependency[Any]) -> dict[str, bool]:
    return {"connected": db is not None}


def _client(pool: _Pool | None) -> TestClient[Any]:
    state = State(
        {
            "database": SimpleNamespace(pool=pool),
            "project_auth": _Auth(),
            "runtime": SimpleNamespace(registry=SimpleNamespace(counter=_no_counter)),
        }
    )
    app = Litestar(
        [private_router(Things), public_router(public_route)],
        exception_handlers=api_exception_handlers,
        state=state,
    )
    return TestClient(app)


def _no_counter(*args: Any) -> Any:
    return SimpleNamespace(inc=lambda *a: None)


@pytest.fixture
def pool() -> _Pool:
    return _Pool()


@pytest.fixture
def client(pool: _Pool) -> Iterator[TestClient[Any]]:
    with _client(pool) as client:
        yield client


def test_a_refused_key_takes_no_connection(client: TestClient[Any], pool: _Pool) -> None:
    assert client.get("/v1/things").json()["code"] == "missing_secret_key"
    bad = client.get("/v1/things", headers={"Authorization": "Bearer sk_bad"})
    assert bad.json()["code"] == "invalid_secret_key"
    assert pool.log == []


def test_the_key_is_checked_before_the_database_is_missed() -> None:
    with _client(None) as client:
        answer = client.get("/v1/things")
        assert (answer.status_code, answer.json()["code"]) == (401, "missing_secret_key")
        answer = client.get("/v1/things", headers={"Authorization": "Bearer sk_good"})
        assert (answer.status_code, answer.json()["code"]) == (503, "database_unavailable")
        assert answer.headers["retry-after"]
        answer = client.get("/public")
        assert (answer.status_code, answer.json()["code"]) == (503, "database_unavailable")


def test_a_connection_is_lent_for_the_request_and_given_back(
    client: TestClient[Any], pool: _Pool
) -> None:
    answer = client.get("/v1/things", headers={"Authorization": "Bearer sk_good"})
    assert answer.json() == {"project": "prj_1"}
    assert pool.log == ["acquire", "release"]
    assert client.get("/public").json() == {"connected": True}


def test_a_transaction_commits_after_the_answer_and_rolls_back_on_error(
    client: TestClient[Any], pool: _Pool
) -> None:
    headers = {"Authorization": "Bearer sk_good"}
    assert client.post("/v1/things/ok", headers=headers).json() == {"done": "ok"}
    assert pool.log == ["acquire", "begin", "commit", "release"]
    pool.log.clear()
    failed = client.post("/v1/things/fail", headers=headers)
    assert (failed.status_code, failed.json()["code"]) == (500, "internal_error")
    assert pool.log == ["acquire", "begin", "rollback", "release"]


@pytest.mark.parametrize(
    ("scheme", "forwarded_proto", "settings", "tls"),
    [
        ("http", None, {}, False),
        ("https", None, {}, True),
        # X-Forwarded-Proto counts only behind a proxy the operator said to trust.
        ("http", "https", {}, False),
        ("http", "https", {"trust_forwarded_for": True}, True),
        ("http", "https, http", {"trust_forwarded_for": True}, True),
        ("http", "http", {"trust_forwarded_for": True}, False),
        ("https", "http", {"trust_forwarded_for": True}, True),
        # An https public URL: browsers reach us over TLS whatever the last hop was.
        ("http", None, {"public_url": "https://cx.example.com"}, True),
        ("http", None, {"public_url": "http://cx.example.com"}, False),
    ],
)
def test_when_the_session_cookie_is_secure(
    scheme: str, forwarded_proto: str | None, settings: dict[str, Any], tls: bool
) -> None:
    from cxloop.api import request_is_tls
    from cxloop.settings import Settings

    assert request_is_tls(scheme, forwarded_proto, Settings(**settings)) is tls


@pytest.mark.parametrize("secure", [False, True])
def test_the_session_cookie_flags(secure: bool) -> None:
    from cxloop.team.session_controller import cleared_session_cookie, session_cookie

    header = session_cookie("abc", secure=secure, max_age=43200).to_header(header="")
    attributes = [part.strip().lower() for part in header.split(";")]
    assert attributes[0] == "cxloop_session=abc"
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "max-age=43200" in attributes
    assert ("secure" in attributes) is secure
    cleared = cleared_session_cookie(secure=secure).to_header(header="").lower()
    assert "max-age=0" in cleared and "httponly" in cleared


def test_the_client_address_follows_ingest_rule() -> None:
    from cxloop.api import client_address
    from cxloop.settings import Settings

    connection = SimpleNamespace(
        headers={"x-forwarded-for": "198.51.100.1, 203.0.113.9"},
        client=SimpleNamespace(host="10.0.0.2"),
    )
    assert client_address(connection, Settings()) == "10.0.0.2"  # type: ignore[arg-type]
    trusted = Settings(trust_forwarded_for=True)
    # The last entry: the one the operator's proxy appended (earlier ones are the client's).
    assert client_address(connection, trusted) == "203.0.113.9"  # type: ignore[arg-type]
    connection.headers = {}
    assert client_address(connection, trusted) == "10.0.0.2"  # type: ignore[arg-type]


def test_a_session_cookie_alone_needs_the_database_but_nothing_at_all_does_not() -> None:
    with _client(None) as client:
        client.cookies.set("cxloop_session", "a-cookie")
        answer = client.get("/v1/things")
        assert (answer.status_code, answer.json()["code"]) == (503, "database_unavailable")
        client.cookies.clear()
        answer = client.get("/v1/things")
        assert (answer.status_code, answer.json()["code"]) == (401, "missing_secret_key")
        assert "POST /v1/session" in answer.json()["message"]


def test_a_bearer_credential_wins_over_a_session_cookie(
    client: TestClient[Any], pool: _Pool
) -> None:
    # The cookie is never looked at (no connection is taken for it): the secret key decides.
    client.cookies.set("cxloop_session", "a-cookie")
    answer = client.post("/v1/things/ok", headers={"Authorization": "Bearer sk_good"})
    assert answer.json() == {"done": "ok"}  # and no CSRF token is asked of a Bearer caller
    assert pool.log == ["acquire", "begin", "commit", "release"]
