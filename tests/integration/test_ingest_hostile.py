"""Hostile bodies over real HTTP: every answer is a verdict (never a 500), the valid neighbour
reaches the lake, and no full address reaches any stored file."""

from __future__ import annotations

import base64
import gzip
import uuid
from typing import Any

import msgspec
import pytest

from tests.helpers.server import Project, RunningServer

ADDRESS = "203.0.113.77"


def good() -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Report Exported",
        "userId": "u1",
        "messageId": str(uuid.uuid4()),
    }


def post(server: RunningServer, body: bytes, headers: dict[str, str]) -> Any:
    with server.client() as client:
        response = client.post(
            "/v1/batch",
            content=gzip.compress(body),
            headers={**headers, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    return response.json()


def stored_text(server: RunningServer, project: Project) -> str:
    """Every lake row of the project (valid and failed) and every byte left in the WAL."""
    rows = server.lake_rows(project.id) + server.lake_rows(project.id, store="failed")
    wal = b"".join(p.read_bytes() for p in (server.data_dir / "wal").rglob("*") if p.is_file())
    return repr(rows) + wal.decode("latin-1")


def test_a_hostile_batch_gets_a_verdict_per_event_and_its_neighbours_land(
    server: RunningServer, project: Project
) -> None:
    neighbour = good()
    too_deep = b'{"type":"track","event":"E","userId":"u2","context":{"ip":"' + ADDRESS.encode()
    too_deep += b'"},"properties":' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}"
    huge = (
        b'{"type":"track","event":"E","userId":"u3","messageId":"big-1","context":{"ip":"'
        + ADDRESS.encode()
        + b'"},"properties":{"x":1e400}}'
    )
    repeated = (
        b'{"type":"track","userId":"u4","messageId":"rep-1","context":{"ip":"'
        + ADDRESS.encode()
        + b'"},"context":{}}'
    )
    nul = msgspec.json.encode({**good(), "userId": "u\0"})
    body = (
        b'{"batch":['
        + b",".join([msgspec.json.encode(neighbour), too_deep, huge, repeated, nul])
        + b"]}"
    )
    answer = post(server, body, project.basic_auth)
    assert answer["accepted"] == 2
    reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert reasons == {1: "too_deep", 3: "missing_event", 4: "invalid_character"}
    server.wait_for_lake({neighbour["messageId"], "big-1"}, project.id)
    server.wait_for_lake({"rep-1", answer["rejected"][0]["messageId"]}, project.id, store="failed")
    (kept,) = [r for r in server.lake_rows(project.id) if r["message_id"] == "big-1"]
    assert kept["properties"] == '{"x":1e400}'
    assert ADDRESS not in stored_text(server, project)


@pytest.mark.parametrize("where", ["header", "body"])
def test_a_write_key_holding_nul_is_an_invalid_write_key(server: RunningServer, where: str) -> None:
    key = "wk_\0"
    payload: dict[str, Any] = {"batch": [good()]}
    headers = {"Content-Type": "application/json"}
    if where == "header":
        headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    else:
        payload["writeKey"] = key
    with server.client() as client:
        response = client.post("/v1/batch", content=msgspec.json.encode(payload), headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_write_key"
