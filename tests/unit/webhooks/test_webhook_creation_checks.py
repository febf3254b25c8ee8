"""POST /v1/webhooks refuses private destinations up front unless the server allows them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import TestClient

from cxloop.api import api_exception_handlers
from cxloop.settings import Settings
from cxloop.webhooks import WebhooksController


class _OneProject:
    async def project_id(self, pool: object, secret_key: str) -> str:
        return "prj_test"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/in", "http://localhost/in", "https://[fd00::5]/in"]
)
def test_private_urls_are_refused_at_creation_by_default(url: str) -> None:
    state = State(
        {
            "settings": Settings(),
            "project_auth": _OneProject(),
            # Validation answers before the database is used.
            "runtime": SimpleNamespace(database=SimpleNamespace(pool=object())),
        }
    )
    app = Litestar([WebhooksController], exception_handlers=api_exception_handlers, state=state)
    with TestClient(app) as client:
        answer = client.post(
            "/v1/webhooks",
            json={"url": url, "events": ["ping"]},
            headers={"Authorization": "Bearer sk_test"},
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_webhook"
    assert "CXLOOP_WEBHOOK_ALLOW_PRIVATE" in answer.json()["message"]
