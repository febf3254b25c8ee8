"""The built SDK served by the backend: stable and versioned paths, caching, SRI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import TestClient

from cxloop.api import api_exception_handlers
from cxloop.api.headers import security_headers
from cxloop.sdk.demo import DemoController, find_demo_dir
from cxloop.settings import Settings, SettingsError
from tests.helpers.server import RunningServer

DIST = Path(__file__).resolve().parents[2] / "sdk-js" / "dist"


def test_stable_path_is_short_cached_and_revalidates(server: RunningServer) -> None:
    with server.client() as client:
        response = client.get("/sdk/v1/cxloop.min.js")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert "max-age=300" in response.headers["cache-control"]
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.content == (DIST / "cxloop.min.js").read_bytes()
        again = client.get(
            "/sdk/v1/cxloop.min.js", headers={"If-None-Match": response.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""


def test_versioned_path_is_immutable_and_matches_its_integrity_hash(server: RunningServer) -> None:
    meta = json.loads((DIST / "integrity.json").read_text())
    with server.client() as client:
        response = client.get(f"/sdk/{meta['version']}/cxloop.min.js")
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert "max-age=31536000" in response.headers["cache-control"]
    digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
    assert meta["cxloop.min.js"] == f"sha384-{digest}"


def test_unknown_versions_and_files_are_404(server: RunningServer) -> None:
    with server.client() as client:
        assert client.get("/sdk/9.9.9/cxloop.min.js").status_code == 404
        assert client.get("/sdk/v1/evil.js").status_code == 404
        assert client.get("/sdk/v1/..%2F..%2Fpyproject.toml").status_code == 404


def _demo_app(tmp_path: Path, public_url: str | None) -> Litestar:
    state_file = tmp_path / "demo.json"
    state_file.write_text(json.dumps({"write_key": "wk_demo_public"}))
    state = State(
        {
            "settings": Settings(public_url=public_url),
            "demo_dir": find_demo_dir(),
            "demo_state_file": state_file,
        }
    )
    return Litestar(
        [DemoController],
        state=state,
        before_send=[security_headers],
        exception_handlers=api_exception_handlers,
    )


def test_the_demo_uses_the_configured_public_url_whatever_the_host(tmp_path: Path) -> None:
    with TestClient(_demo_app(tmp_path, "https://cx.example.com/")) as client:
        page = client.get("/demo/", headers={"Host": "evil.example"})
        script = client.get("/demo/assets/app.js", headers={"Host": "evil.example"})
    assert page.status_code == script.status_code == 200
    assert '(window,document,"https://cx.example.com","wk_demo_public")' in page.text
    assert "var CXLOOP_HOST = 'https://cx.example.com' ||" in script.text
    assert "evil.example" not in page.text + script.text
    # The public origin may serve the SDK and receive events; nothing else may.
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' https://cx.example.com 'nonce-" in policy
    assert "connect-src 'self' https://cx.example.com;" in policy


@pytest.mark.parametrize(
    "public_url", ["cx.example.com", "https://cx.example.com/app", "https://cx.example.com/'+x"]
)
def test_a_public_url_that_is_not_an_origin_stops_the_server_at_start(public_url: str) -> None:
    with pytest.raises(
        SettingsError, match=r"CXLOOP_PUBLIC_URL=.* e\.g\. https://cx\.example\.com"
    ):
        Settings.from_env({"CXLOOP_PUBLIC_URL": public_url})
    done = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "serve"],
        env={**os.environ, "CXLOOP_PUBLIC_URL": public_url, "CXLOOP_DATA_DIR": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "CXLOOP_PUBLIC_URL" in done.stderr, done.stderr
