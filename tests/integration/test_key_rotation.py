"""Key rotation with a grace period against a real server: the old key works beside the new one
until the grace ends, then is refused (401); revoking retired keys ends the grace at once; the
audit log records prefixes only. Grace periods of a few seconds; every wait is a poll with a
deadline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from cxloop.projects import create_project, project_for_secret_key, revoke_retired_keys, rotate_key
from tests.helpers.people import add_person, audit_entries, make_token
from tests.helpers.server import Project, RunningServer

# The secret key is cached by hash for 10 s; write keys are refreshed every key_refresh_s.
SECRET_CACHE_S = 10.0
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    return {"key_refresh_s": 0.5}


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _send(http: httpx.Client, write_key: str) -> httpx.Response:
    event = {"type": "track", "event": "Rotated", "userId": "u1", "messageId": str(uuid.uuid4())}
    return http.post("/v1/batch", json={"writeKey": write_key, "batch": [event]})


def _until(check: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> float:
    """Poll ``check`` until it holds; the seconds it took. Fails after ``deadline_s``."""
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {deadline_s} s")


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "cxloop.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_old_secret_key_works_during_the_grace_and_not_after(
    http: httpx.Client, project: Project, module_database_url: str
) -> None:
    old = project.secret_key
    rotated = http.post("/v1/keys/secret/rotate", json={"grace_seconds": 3}, headers=_bearer(old))
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    new = body["key"]
    assert new.startswith("sk_") and new != old
    assert body["prefix"] == new[:11] and body["old_prefix"] == old[:11]

    # Both work during the grace period.
    assert http.get("/v1/keys", headers=_bearer(new)).status_code == 200
    listed = http.get("/v1/keys", headers=_bearer(old))
    assert listed.status_code == 200
    keys = listed.json()
    assert keys["secret_key_prefix"] == new[:11]
    (retired,) = [k for k in keys["retired"] if k["kind"] == "secret"]
    assert retired["prefix"] == old[:11] and retired["active"] is True

    # After it (and the 10 s cache), the old key is refused; the new one works on.
    def refused() -> bool:
        answer = http.get("/v1/keys", headers=_bearer(old))
        if answer.status_code == 401:
            assert answer.json()["code"] == "invalid_secret_key"
            return True
        assert answer.status_code == 200
        return False

    took = _until(refused, "refusing the old secret key")
    assert took <= 3 + SECRET_CACHE_S + 2
    assert http.get("/v1/keys", headers=_bearer(new)).status_code == 200
    project.secret_key = new

    (entry,) = [e for e in audit_entries(module_database_url, project.id)
                if e.action == "key.rotated" and e.details["kind"] == "secret"]  # fmt: skip
    assert entry.actor_kind == "secret_key" and entry.actor_label.startswith(
        f"secret key {old[:11]}"
    )
    assert entry.details["prefix"] == new[:11] and entry.details["old_prefix"] == old[:11]
    assert entry.details["grace_seconds"] == 3
    assert new not in json.dumps(entry.details) and old not in json.dumps(entry.details)


def test_the_old_write_key_ingests_during_the_grace_then_gets_a_clear_401(
    http: httpx.Client, project: Project, module_database_url: str
) -> None:
    old = project.write_key
    assert _send(http, old).status_code == 200
    rotated = http.post("/v1/keys/write/rotate", json={"grace_seconds": 3},
                        headers=_bearer(project.secret_key))  # fmt: skip
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["key"]
    assert new.startswith("wk_") and new != old
    assert http.get("/v1/keys", headers=_bearer(project.secret_key)).json()["write_key"] == new

    assert _send(http, new).status_code == 200
    assert _send(http, old).status_code == 200  # still ingesting in its grace

    last: list[httpx.Response] = []

    def refused() -> bool:
        answer = _send(http, old)
        last.append(answer)
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 401

    _until(refused, "refusing the old write key")
    answer = last[-1].json()
    assert answer["code"] == "invalid_write_key" and "grace period" in answer["message"]
    assert _send(http, new).status_code == 200
    project.write_key = new

    (entry,) = [e for e in audit_entries(module_database_url, project.id)
                if e.action == "key.rotated" and e.details["kind"] == "write"]  # fmt: skip
    assert entry.details["old_prefix"] == old[:11] and old not in json.dumps(entry.details)


def test_revoking_retired_keys_ends_the_grace_at_once(
    http: httpx.Client, project: Project, module_database_url: str
) -> None:
    admin = _bearer(project.secret_key)
    old_write = project.write_key
    new_write = http.post("/v1/keys/write/rotate", json={"grace_seconds": 3600},
                          headers=admin).json()["key"]  # fmt: skip
    assert _send(http, old_write).status_code == 200

    old_secret = project.secret_key
    new_secret = http.post("/v1/keys/secret/rotate", json={}, headers=admin).json()["key"]
    # No grace given: the setting's default (24 h) applies.
    (retired,) = [
        k
        for k in http.get("/v1/keys", headers=_bearer(new_secret)).json()["retired"]
        if k["kind"] == "secret" and k["prefix"] == old_secret[:11]
    ]
    assert retired["active"] is True
    assert http.get("/v1/keys", headers=_bearer(old_secret)).status_code == 200

    revoked = http.post("/v1/keys/write/revoke-retired", headers=_bearer(new_secret))
    assert revoked.status_code == 200 and revoked.json() == {"kind": "write", "revoked": 1}
    revoked = http.post("/v1/keys/secret/revoke-retired", headers=_bearer(new_secret))
    assert revoked.status_code == 200 and revoked.json() == {"kind": "secret", "revoked": 1}
    bad = http.post("/v1/keys/public/revoke-retired", headers=_bearer(new_secret))
    assert bad.status_code == 400

    # Write keys: within a refresh (0.5 s here); secret keys: within the 10 s cache.
    took = _until(lambda: _send(http, old_write).status_code == 401, "refusing the write key")
    assert took < 5
    _until(lambda: http.get("/v1/keys", headers=_bearer(old_secret)).status_code == 401,
           "refusing the secret key", deadline_s=SECRET_CACHE_S + 5)  # fmt: skip
    assert _send(http, new_write).status_code == 200
    listed = http.get("/v1/keys", headers=_bearer(new_secret)).json()["retired"]
    assert not [k for k in listed if k["active"]]
    project.write_key, project.secret_key = new_write, new_secret

    revocations = [e for e in audit_entries(module_database_url, project.id)
                   if e.action == "key.revoked"]  # fmt: skip
    assert {(e.details["kind"], e.details["keys"]) for e in revocations} == {
        ("write", 1),
        ("secret", 1),
    }


def test_a_viewer_may_not_see_or_rotate_keys(
    http: httpx.Client, project: Project, module_database_url: str
) -> None:
    viewer = add_person(module_database_url, project.id, "kv@example.com", "viewer")
    # Written straight to the table: even the 'admin' scope grants only the viewer's role.
    token = make_token(module_database_url, project.id, viewer, "keys", ["admin"])
    answer = http.post("/v1/keys/secret/rotate", json={}, headers=_bearer(token))
    assert answer.status_code == 403 and "keys:write" in answer.json()["message"]
    assert http.get("/v1/keys", headers=_bearer(token)).status_code == 403


def test_the_cli_rotates_lists_and_revokes(
    http: httpx.Client, project: Project, module_database_url: str
) -> None:
    done = _cli(module_database_url, "keys", "rotate", "--project", project.id, "--kind",
                "secret", "--grace", "1h", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rotation = json.loads(done.stdout)
    old, new = project.secret_key, rotation["key"]
    assert http.get("/v1/keys", headers=_bearer(new)).status_code == 200
    listed = _cli(module_database_url, "keys", "list", "--project", project.id)
    assert listed.returncode == 0 and f"{new[:11]}…" in listed.stdout
    assert f"{old[:11]}…  works until" in listed.stdout
    revoked = _cli(module_database_url, "keys", "revoke-retired", "--project", project.id,
                   "--kind", "secret")  # fmt: skip
    assert revoked.returncode == 0 and revoked.stdout.startswith("1 retired secret key")
    _until(lambda: http.get("/v1/keys", headers=_bearer(old)).status_code == 401,
           "refusing the secret key", deadline_s=SECRET_CACHE_S + 5)  # fmt: skip
    project.secret_key = new
    bad = _cli(module_database_url, "keys", "rotate", "--project", project.id, "--kind",
               "secret", "--grace", "soon")  # fmt: skip
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    entries = [e for e in audit_entries(module_database_url, project.id)
               if e.actor_kind == "cli" and e.object_type == "key"]  # fmt: skip
    assert {e.action for e in entries} == {"key.rotated", "key.revoked"}


async def test_retired_secret_keys_resolve_until_valid_until(conn: asyncpg.Connection) -> None:
    created = await create_project(conn, "Rotating")
    rotation = await rotate_key(conn, created.id, "secret", grace_s=3600)
    assert rotation is not None
    assert await project_for_secret_key(conn, created.secret_key) == created.id
    assert await project_for_secret_key(conn, rotation.key) == created.id
    assert await revoke_retired_keys(conn, created.id, "secret") == 1
    assert await revoke_retired_keys(conn, created.id, "secret") == 0
    assert await project_for_secret_key(conn, created.secret_key) is None
    assert await project_for_secret_key(conn, rotation.key) == created.id
    # Grace 0: the old key stops at once (what `cxloop demo` relies on).
    again = await rotate_key(conn, created.id, "secret", grace_s=0)
    assert again is not None
    assert await project_for_secret_key(conn, rotation.key) is None
    assert await rotate_key(conn, "prj_missing", "write", grace_s=10) is None
