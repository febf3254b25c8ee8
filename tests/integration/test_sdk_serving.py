"""The built SDK served by the backend: stable and versioned paths, caching, SRI."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

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
