"""POST /v1/webhooks refuses private destinations up front unless the server allows them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import TestClient

from cxloop.api import api_exception_handlers
from cxloop.api.deps import private_router
from cxloop.settings import Settings
from cxloop.webhooks import WebhooksController


class _OneProject:
    async def project_id(self, pool: object, secret_key: str) -> str:
        return "prj_test"


class _UnusedConnection:
    """May open a transaction, but any query fails the test: validation answers first."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class _UnusedPool:
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_UnusedConnection]:
        yield _UnusedConnection()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/in", "http://localhost/in", "https://[fd00::5]/in"]
)
def test_private_urls_are_refused_at_creation_by_default(url: str) -> None:
    state = State(
        {
            "settings": Settings(),
            "project_auth": _OneProject(),
            "database": SimpleNamespace(pool=_UnusedPool()),
        }
    )
    app = Litestar(
        [private_router(WebhooksController)], exception_handlers=api_exception_handlers, state=state
    )
    with TestClient(app) as client:
        answer = client.post(
            "/v1/webhooks",
            json={"url": url, "events": ["ping"]},
            headers={"Authorization": "Bearer sk_test"},
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_webhook"
    assert "CXLOOP_WEBHOOK_ALLOW_PRIVATE" in answer.json()["message"]
