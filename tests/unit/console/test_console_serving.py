"""The console's shell and assets as the server hands them out (no database: a Litestar test app)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import time
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import TestClient

from cxloop.api import api_exception_handlers, security_headers
from cxloop.console import ConsoleController, load_console
from cxloop.console.assets import STATIC_DIR


def _build(directory: Path, js: bytes = b"console.log(1)", css: bytes = b"body{}") -> None:
    files = {}
    for name, body in (("console.js", js), ("console.css", css)):
        hashed = name.replace(".", "." + hashlib.sha256(body).hexdigest()[:12] + ".")
        (directory / hashed).write_bytes(body)
        files[name] = hashed
    chunks = {"chunk.CORE.js": b"export const c=1", "chunk.ACCT.js": b"export default 1"}
    for name, body in chunks.items():
        (directory / name).write_bytes(body)
    manifest = {
        "files": files,
        "chunks": sorted(chunks),
        "preload": ["chunk.CORE.js"],
        "pages": {"account": ["chunk.ACCT.js"]},
        "sizes": {},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))


def _app(directory: Path) -> Litestar:
    return Litestar(
        [ConsoleController],
        state=State({"console_bundle": load_console(directory)}),
        before_send=[security_headers],
        exception_handlers=api_exception_handlers,
    )


def test_every_console_path_gets_the_shell_with_a_fresh_nonce_in_a_strict_csp(
    tmp_path: Path,
) -> None:
    _build(tmp_path)
    with TestClient(_app(tmp_path)) as client:
        answers = [client.get(p) for p in ("/console/", "/console/accounts/acct_1", "/console/x/y")]
    nonces = []
    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["cache-control"] == "no-cache"
        csp = answer.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce is not None
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "default-src 'none'" in csp and "object-src 'none'" in csp
        # The one script tag carries the answer's nonce; there is no inline script or style.
        assert re.findall(r'nonce="([^"]+)"', answer.text) == [nonce.group(1)]
        assert "<style" not in answer.text and "style=" not in answer.text
        assert re.search(r"<script[^>]*>[^<]+</script>", answer.text) is None
        assert answer.headers["x-frame-options"] == "SAMEORIGIN"
        nonces.append(nonce.group(1))
    assert len(set(nonces)) == 3


def test_console_without_trailing_slash_redirects(tmp_path: Path) -> None:
    _build(tmp_path)
    with TestClient(_app(tmp_path)) as client:
        answer = client.get("/console", follow_redirects=False)
    assert answer.status_code == 308
    assert answer.headers["location"] == "/console/"


def test_assets_are_immutable_gzipped_and_revalidated_by_etag(tmp_path: Path) -> None:
    _build(tmp_path, js=b"export const x = 1;" * 100)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    name = manifest["files"]["console.js"]
    with TestClient(_app(tmp_path)) as client:
        plain = client.get(f"/console/assets/{name}", headers={"Accept-Encoding": "identity"})
        zipped = client.get(f"/console/assets/{name}", headers={"Accept-Encoding": "gzip"})
        again = client.get(
            f"/console/assets/{name}", headers={"If-None-Match": plain.headers["etag"]}
        )
        missing = client.get("/console/assets/console.000000000000.js")
    assert plain.status_code == 200
    assert plain.content == b"export const x = 1;" * 100
    assert plain.headers["content-type"].startswith("text/javascript")
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx decodes; the wire carried gzip
    assert again.status_code == 304
    assert missing.status_code == 404
    assert "reload" in missing.json()["message"]


def test_a_rebuild_is_served_without_a_restart(tmp_path: Path) -> None:
    _build(tmp_path, js=b"1")
    with TestClient(_app(tmp_path)) as client:
        first = client.get("/console/").text
        time.sleep(0.01)
        _build(tmp_path, js=b"2")
        manifest = tmp_path / "manifest.json"
        stamp = manifest.stat().st_mtime + 1
        os.utime(manifest, (stamp, stamp))
        second = client.get("/console/").text
    js = re.compile(r"console\.([0-9a-f]{12})\.js")
    assert js.search(first).group(1) != js.search(second).group(1)  # type: ignore[union-attr]


def test_without_a_build_the_answer_says_how_to_build(tmp_path: Path) -> None:
    with TestClient(_app(tmp_path)) as client:
        answer = client.get("/console/")
    assert answer.status_code == 404
    assert "npm run build" in answer.json()["message"]


def test_the_shell_preloads_the_entrys_chunks_and_the_pages_own(tmp_path: Path) -> None:
    _build(tmp_path)
    with TestClient(_app(tmp_path)) as client:
        account = client.get("/console/accounts/acct_1").text
        portfolio = client.get("/console/").text
        chunk = client.get("/console/assets/chunk.ACCT.js")
    preload = re.compile(r'<link rel="modulepreload" href="/console/assets/([^"]+)">')
    assert preload.findall(account) == ["chunk.CORE.js", "chunk.ACCT.js"]
    assert preload.findall(portfolio) == ["chunk.CORE.js"]
    assert chunk.status_code == 200 and chunk.content == b"export default 1"


def test_the_committed_build_is_complete_and_has_nothing_stale() -> None:
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    assert set(manifest["files"]) == {"console.js", "console.css"}
    named = [*manifest["files"].values(), *manifest["chunks"]]
    for name in named:
        body = (STATIC_DIR / name).read_bytes()
        assert manifest["sizes"][name]["bytes"] == len(body)
        # Node's zlib and Python's differ by a few bytes; the recorded size is the real one.
        assert abs(manifest["sizes"][name]["gzip"] - len(gzip.compress(body))) < len(body) / 50
    # Every page of the router has its chunks, and they are files of the build.
    assert set(manifest["pages"]) >= {"portfolio", "accounts", "account", "feedback", "alerts"}
    assert {c for chunks in manifest["pages"].values() for c in chunks} <= set(named)
    # Nothing but the manifest and the files it names (stale builds are removed).
    assert {p.name for p in STATIC_DIR.iterdir()} == {"manifest.json", *named}
    bundle = load_console()
    assert bundle is not None and set(bundle.assets) == set(named)
