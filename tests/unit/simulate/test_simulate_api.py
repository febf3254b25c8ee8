"""Without the health API the simulator stops with a clear message instead of faking scores."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.simulate import api


class NotFound(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"code":"not_found","message":"no such route"}')

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def old_server() -> Iterator[str]:
    """A loopback server that predates the health API: 404 everywhere."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("call", "route"),
    [
        (api.health_api_present, "GET /v1/health/config"),
        (api.refresh_health, "POST /v1/health/refresh"),
        (api.fetch_scores, "GET /v1/accounts"),
    ],
)
def test_a_missing_health_api_stops_the_run(
    old_server: str, call: Callable[[str, str], object], route: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        call(old_server, "sk_test")
    message = str(stopped.value)
    assert route in message and "no AUC" in message and "docs/health.md" in message


def test_a_server_without_insights_configuration_is_told(old_server: str) -> None:
    assert api.put_competitors(old_server, "sk_test", ["DashHub"]) is False


class AnalysisBehind(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        body = b'{"code":"analysis_behind","message":"3 comment(s) are not analysed yet"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_comments_that_stay_unanalysed_stop_the_run_soon() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), AnalysisBehind)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(SystemExit) as stopped:
            api.refresh_health(f"http://127.0.0.1:{httpd.server_address[1]}", "sk_test")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "comments stay unanalysed" in str(stopped.value)
    assert AnalysisBehind.calls == 2  # the server waited already: one more try, not twenty
