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
