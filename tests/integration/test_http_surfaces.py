"""What every answer of a real server carries, and its HTML surfaces (/demo/, /schema).

- ``X-Content-Type-Options: nosniff`` on every answer, raw-ASGI ingest routes and errors too;
- HTML with a Content-Security-Policy (same origin; inline scripts only with a nonce), framing
  and referrer policies;
- the API docs need nothing from the internet: every script and stylesheet is this server's;
- the Host header is never written into anything served.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.helpers.server import Project, RunningServer

DOCS_PAGES = ["/schema", "/schema/", "/schema/swagger"]


class _Resources(HTMLParser):
    """The page's script and stylesheet/icon addresses, and its inline scripts' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.urls.append(str(values["src"]))
            else:
                self.inline_scripts.append(values)
        elif tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


def _resources(page: str) -> _Resources:
    parser = _Resources()
    parser.feed(page)
    return parser


def _csp(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    return {
        parts[0]: parts[1:]
        for parts in (directive.split() for directive in policy.split(";"))
        if parts
    }


@pytest.fixture(scope="module")
def demo(server: RunningServer, project: Project) -> str:
    """The demo app with a real project's key, so its SDK's events are accepted."""
    key = project.write_key
    (server.data_dir / "state" / "demo.json").write_text(json.dumps({"write_key": key}))
    return key


def test_every_answer_says_nosniff(server: RunningServer, project: Project, demo: str) -> None:
    batch = {"batch": [{"type": "track", "event": "E", "userId": "u1"}]}
    bad_key = {"Authorization": "Basic " + base64.b64encode(b"wk_nope:").decode()}
    with server.client() as client:
        answers = [
            client.post("/v1/batch", json=batch, headers=project.basic_auth),  # raw ASGI, 200
            client.post("/v1/batch", json=batch, headers=bad_key),  # raw ASGI, 401
            client.post("/v1/batch", content=b"{", headers=project.basic_auth),  # 400
            client.options(
                "/v1/batch",
                headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
            ),
            client.get("/healthz"),
            client.get("/v1/alerts"),  # private API without a key: 401
            client.get("/v1/alerts", headers=project.bearer),
            client.get("/no/such/route"),  # the router's own 404
            client.delete("/healthz"),  # 405
            client.get("/sdk/v1/cxloop.min.js"),
            client.get("/demo/"),
            client.get("/demo/assets/app.js"),
            client.get("/demo/assets/app.css"),
            client.get("/schema"),
            client.get("/schema/openapi.json"),
            client.get("/schema/nope"),
        ]
    for answer in answers:
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"], (
            answer.request.method,
            answer.request.url,
            answer.status_code,
        )
    assert [a.status_code for a in answers[:2]] == [200, 401]


def test_answers_to_broken_http_say_nosniff_too(server: RunningServer) -> None:
    # Answered by the HTTP protocol layer, before any route.
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 400"), head
    assert b"\r\nx-content-type-options: nosniff" in head


@pytest.mark.parametrize("path", ["/demo/", "/demo/exports.html", *DOCS_PAGES, "/schema/nope"])
def test_html_answers_carry_csp_frame_and_referrer_policies(
    server: RunningServer, demo: str, path: str
) -> None:
    with server.client() as client:
        answer = client.get(path)
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    csp = _csp(answer)
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
    assert "'unsafe-eval'" not in answer.headers["content-security-policy"]
    assert csp["script-src"][0] == "'self'"
    # An inline script runs only with the nonce this answer's policy names.
    nonces = [s.removeprefix("'nonce-").rstrip("'") for s in csp["script-src"] if "nonce-" in s]
    for script in _resources(answer.text).inline_scripts:
        assert script.get("nonce") in nonces, (path, script)


def test_the_demo_nonce_is_new_on_every_answer(server: RunningServer, demo: str) -> None:
    with server.client() as client:
        first, second = client.get("/demo/"), client.get("/demo/")
    (script_first,) = _resources(first.text).inline_scripts
    (script_second,) = _resources(second.text).inline_scripts
    assert script_first["nonce"] and script_first["nonce"] != script_second["nonce"]
    assert f"'nonce-{script_first['nonce']}'" in _csp(first)["script-src"]


@pytest.mark.parametrize("path", DOCS_PAGES)
def test_the_api_docs_load_everything_from_this_server(server: RunningServer, path: str) -> None:
    with server.client() as client:
        page = client.get(path)
        assert page.status_code == 200
        found = _resources(page.text)
        assert found.inline_scripts == []  # nothing for a strict CSP to refuse
        assert any("swagger-ui-bundle.js" in url for url in found.urls), found.urls
        assert any("swagger-ui.css" in url for url in found.urls), found.urls
        assert "http://" not in page.text and "https://" not in page.text
        for url in found.urls:
            absolute = urljoin(f"{server.url}{path}", url)
            assert urlsplit(absolute).netloc == urlsplit(server.url).netloc, url
            asset = client.get(absolute)
            assert asset.status_code == 200, url
            assert len(asset.content) > 0
            if url.endswith(".js"):
                assert asset.headers["content-type"].startswith("text/javascript")
        spec = re.search(r'data-spec-url="([^"]+)"', page.text)
        assert spec is not None
        assert client.get(urljoin(f"{server.url}{path}", spec.group(1))).json()["openapi"]


def test_docs_assets_are_only_the_bundles_files(server: RunningServer) -> None:
    with server.client() as client:
        for name in ("..%2F..%2Fpyproject.toml", "index.html", "swagger-initializer.js", "x.js"):
            assert client.get(f"/schema/assets/{name}").status_code == 404, name
        asset = client.get("/schema/assets/docs.js")
        again = client.get(
            "/schema/assets/docs.js", headers={"If-None-Match": asset.headers["etag"]}
        )
        assert again.status_code == 304


@pytest.mark.parametrize("path", ["/demo/", "/demo/assets/app.js", "/demo/settings.html"])
def test_a_forged_host_header_is_never_written_into_the_demo(
    server: RunningServer, demo: str, path: str
) -> None:
    with server.client() as client:
        forged = client.get(path, headers={"Host": "evil.example"})
        honest = client.get(path)
    assert forged.status_code == 200
    assert "evil.example" not in forged.text
    assert "__CXLOOP_HOST__" not in forged.text
    # Without a configured public URL, the demo is same-origin: no host is written at all.
    assert urlsplit(server.url).netloc not in honest.text
    if path.endswith(".html") or path.endswith("/"):
        assert f'(window,document,"","{demo}")' in honest.text


def test_the_docs_and_the_demo_run_in_a_browser_under_their_policies(
    server: RunningServer, demo: str
) -> None:
    script = Path(__file__).with_name("browser_surfaces.mjs")
    done = subprocess.run(
        ["node", str(script), server.url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["violations"] == [] and result["errors"] == [], result
    assert result["foreign"] == []  # nothing from the internet, no CDN
    assert result["operations"] > 10  # Swagger UI rendered the schema's operations
    # The pasted snippet ran (by its nonce), loaded the SDK, and the SDK sent events.
    assert "GET /sdk/v1/cxloop.min.js" in result["requests"]
    assert "POST /v1/batch" in result["requests"], result["requests"]
