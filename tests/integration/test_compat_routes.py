"""What Segment's analytics-next fetches from its CDN, served by cxloop (docs/compatibility.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers.server import Project, RunningServer, create_project, running_server

ORIGIN = {"Origin": "http://shop.example"}


def test_settings_name_this_server_as_the_segment_api_host(
    server: RunningServer, project: Project
) -> None:
    with server.client() as client:
        response = client.get(f"/v1/projects/{project.write_key}/settings", headers=ORIGIN)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["content-type"].startswith("application/json")
        settings = response.json()
        segment_io = settings["integrations"]["Segment.io"]
        host = urlsplit(server.url).netloc
        assert segment_io["apiKey"] == project.write_key
        assert segment_io["apiHost"] == host + "/v1"
        assert segment_io["protocol"] == "http"
        # Only the Segment.io destination: the library loads no other integration's code.
        assert list(settings["integrations"]) == ["Segment.io"]
        assert settings["remotePlugins"] == []
        # Over plain http the library would send its beacon to https and fail: switched off.
        assert settings["metrics"] == {"sampleRate": 0, "host": host + "/v1", "flushTimer": 30000}

        # Where the settings point takes the library's requests: per-type short routes.
        url = f"{segment_io['protocol']}://{segment_io['apiHost']}/t"
        event = {"type": "track", "event": "Compat Checked", "userId": "u1", "messageId": "c-1"}
        sent = client.post(url, content=json.dumps(event), headers=project.basic_auth)
        assert sent.status_code == 200, sent.text


def test_forwarded_proto_counts_only_behind_a_trusted_proxy(
    server: RunningServer, project: Project
) -> None:
    with server.client() as client:
        response = client.get(
            f"/v1/projects/{project.write_key}/settings", headers={"X-Forwarded-Proto": "https"}
        )
    assert response.json()["integrations"]["Segment.io"]["protocol"] == "http"


@pytest.mark.parametrize("write_key", ["wk_unknown_0000", "x" * 200])
def test_unknown_write_key_is_404_with_cors_and_a_message(
    server: RunningServer, write_key: str
) -> None:
    with server.client() as client:
        response = client.get(f"/v1/projects/{write_key}/settings", headers=ORIGIN)
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["code"] == "invalid_write_key"
    assert "write key" in response.json()["message"]


def test_a_host_header_that_is_not_a_host_is_not_echoed(
    server: RunningServer, project: Project
) -> None:
    with server.client() as client:
        response = client.get(
            f"/v1/projects/{project.write_key}/settings",
            headers={"Host": "evil.example:123456"},
        )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_host"
    assert "evil" not in response.text


def test_metrics_beacon_is_answered_with_cors_and_counted(server: RunningServer) -> None:
    beacon = {
        "series": [
            {"type": "Counter", "metric": "analytics_js.invoke.track", "value": 1, "tags": {}}
        ]
    }
    with server.client() as client:
        for _ in range(3):
            response = client.post(
                "/v1/m",
                content=json.dumps(beacon),
                headers={**ORIGIN, "Content-Type": "text/plain"},
            )
            assert response.status_code == 204
            assert response.headers["access-control-allow-origin"] == "*"
        # Metrics from every process are summed from snapshot files written every second.
        deadline = time.monotonic() + 15
        line = 'cxloop_compat_metrics_beacons_total{library="analytics-next"}'
        while True:
            metrics = client.get("/metrics").text
            counted = [row for row in metrics.splitlines() if row.startswith(line)]
            if counted and float(counted[0].split()[-1]) >= 3:
                break
            assert time.monotonic() < deadline, metrics
            time.sleep(0.2)


def test_public_url_is_the_api_host_whatever_the_host_header(
    module_database_url: str, tmp_path: Path
) -> None:
    with running_server(
        tmp_path / "data", module_database_url, public_url="https://cx.example.com"
    ) as public:
        project = create_project(module_database_url, "public-url")
        with public.client() as client:
            response = client.get(
                f"/v1/projects/{project.write_key}/settings", headers={"Host": "evil.example"}
            )
    assert response.status_code == 200, response.text
    segment_io = response.json()["integrations"]["Segment.io"]
    assert (segment_io["protocol"], segment_io["apiHost"]) == ("https", "cx.example.com/v1")
    assert response.json()["metrics"]["sampleRate"] > 0


def _rudderstack_query(write_key: str) -> dict[str, str]:
    """What RudderStack's JS SDK v3 sends, as it sends it."""
    return {
        "p": "npm",
        "v": "3.34.1",
        "build": "modern",
        "writeKey": write_key,
        "lockIntegrationsVersion": "false",
        "lockPluginsVersion": "false",
    }


def test_rudderstack_source_config_is_an_enabled_source_without_destinations(
    server: RunningServer, project: Project
) -> None:
    with server.client() as client:
        preflight = client.options(
            "/sourceConfig/",
            headers={
                **ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization,content-type,accept",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "accept"} <= {
            h.strip() for h in allowed.split(",")
        }
        response = client.get(
            "/sourceConfig/",
            params=_rudderstack_query(project.write_key),
            headers={**ORIGIN, **project.basic_auth},
        )
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        source = response.json()["source"]
        assert source["enabled"] is True
        assert source["writeKey"] == project.write_key
        assert source["destinations"] == []
        assert source["config"] == {}
        # The key as the Basic user alone is enough too.
        by_header = client.get("/sourceConfig", headers=project.basic_auth)
        assert by_header.status_code == 200


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [
        ({"writeKey": "wk_unknown_0000"}, {}, 404, "invalid_write_key"),
        ({}, {}, 401, "missing_write_key"),
        ({}, {"Authorization": "Basic !!!"}, 401, "missing_write_key"),
        # Not ASCII (latin-1 header bytes): no key, not a server error.
        ({}, {"Authorization": "Basic \xe9\xe9"}, 401, "missing_write_key"),
    ],
)
def test_rudderstack_source_config_refusals_carry_cors_and_a_message(
    server: RunningServer,
    query: dict[str, str],
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    with server.client() as client:
        sent = httpx.Headers({**ORIGIN, **headers}, encoding="latin-1")
        response = client.get("/sourceConfig/", params=query, headers=sent)
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["code"] == code
    assert response.json()["message"]
