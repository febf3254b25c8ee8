"""Members and personal API tokens against a real server and PostgreSQL: the owner rules, the
last owner, tokens within their scopes and their person's current role, expiry, revocation,
last use, and the audit log naming who did each thing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from cxloop.access import AccessError, add_member, create_user, remove_member, set_role
from cxloop.projects import create_project
from tests.helpers.people import (
    Person,
    add_person,
    audit_entries,
    bearer,
    fetch,
    make_session,
    session_headers,
)
from tests.helpers.server import Project, RunningServer


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


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def owner(project: Project, module_database_url: str) -> Person:
    """The first owner, made with the CLI as a vendor would (no API can make the first one)."""
    done = _cli(
        module_database_url,
        "members", "add", "--project", project.id, "--email", "Owner@Example.com",
        "--role", "owner",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "owner@example.com" in done.stdout.lower() and "/console/reset#" in done.stdout
    (row,) = fetch(
        module_database_url, "SELECT id, email FROM console_users WHERE email_key = $1",
        "owner@example.com",
    )  # fmt: skip
    return Person(row["id"], row["email"])


def _session(database_url: str, person: Person, project: Project) -> dict[str, str]:
    return session_headers(make_session(database_url, person), project.id)


def _entries(database_url: str, project: Project, action: str) -> list[dict[str, Any]]:
    return [
        {"actor_kind": e.actor_kind, "actor_label": e.actor_label, **e.details}
        for e in audit_entries(database_url, project.id)
        if e.action == action
    ]


def test_members_crud_with_the_owner_rules(
    http: httpx.Client, project: Project, owner: Person, module_database_url: str
) -> None:
    as_owner = _session(module_database_url, owner, project)

    # The secret key is an admin: it adds people, but no owner.
    added = http.post(
        "/v1/members",
        json={"email": "carol@example.com", "role": "analyst", "name": "Carol"},
        headers=project.bearer,
    )
    assert added.status_code == 201, added.text
    body = added.json()
    carol = body["member"]["user_id"]
    assert body["created_user"] is True and body["member"]["role"] == "analyst"
    assert body["member"]["has_password"] is False
    assert "/console/reset#" in body["set_password_url"]
    # The link works once: it sets Carol's password (a public route).
    token = body["set_password_url"].split("#", 1)[1]
    set_pw = http.post(f"/v1/password-resets/{token}", json={"password": "a long passphrase 1"})
    assert set_pw.status_code in (200, 204), set_pw.text

    again = http.post(
        "/v1/members", json={"email": "CAROL@example.com", "role": "viewer"}, headers=project.bearer
    )
    assert again.status_code == 409 and again.json()["code"] == "already_a_member"

    refused = http.post(
        "/v1/members", json={"email": "dave@example.com", "role": "owner"}, headers=project.bearer
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden" and "owners:write" in refused.json()["message"]
    bad_role = http.post(
        "/v1/members", json={"email": "dave@example.com", "role": "boss"}, headers=project.bearer
    )
    assert bad_role.status_code == 400

    listed = http.get("/v1/members", headers=project.bearer).json()["members"]
    assert {m["email"].lower(): m["role"] for m in listed} == {
        "owner@example.com": "owner",
        "carol@example.com": "analyst",
    }
    one = http.get(f"/v1/members/{carol}", headers=project.bearer)
    assert one.status_code == 200 and one.json()["has_password"] is True
    assert http.get("/v1/members/usr_nobody", headers=project.bearer).status_code == 404

    # The owner promotes Carol to admin; an admin cannot touch the owner.
    promoted = http.patch(f"/v1/members/{carol}", json={"role": "admin"}, headers=as_owner)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    as_carol = _session(module_database_url, Person(carol, "carol@example.com"), project)
    demote_owner = http.patch(f"/v1/members/{owner.user_id}", json={"role": "viewer"},
                              headers=as_carol)  # fmt: skip
    assert demote_owner.status_code == 403 and "owners:write" in demote_owner.json()["message"]
    remove_owner = http.delete(f"/v1/members/{owner.user_id}", headers=as_carol)
    assert remove_owner.status_code == 403

    # The last owner can neither be demoted nor removed, not even by themselves.
    last = http.patch(f"/v1/members/{owner.user_id}", json={"role": "admin"}, headers=as_owner)
    assert last.status_code == 409 and last.json()["code"] == "last_owner"
    last = http.delete(f"/v1/members/{owner.user_id}", headers=as_owner)
    assert last.status_code == 409 and last.json()["code"] == "last_owner"

    # With a second owner, the first may step down.
    second = http.post("/v1/members", json={"email": "erin@example.com", "role": "owner"},
                       headers=as_owner)  # fmt: skip
    assert second.status_code == 201, second.text
    erin = second.json()["member"]["user_id"]
    stepped = http.patch(f"/v1/members/{owner.user_id}", json={"role": "admin"}, headers=as_owner)
    assert stepped.status_code == 200 and stepped.json()["role"] == "admin"
    as_erin = _session(module_database_url, Person(erin, "erin@example.com"), project)
    back = http.patch(f"/v1/members/{owner.user_id}", json={"role": "owner"}, headers=as_erin)
    assert back.status_code == 200

    # Removing a member revokes their tokens for the project.
    made = http.post("/v1/tokens", json={"name": "carol's", "scopes": ["read"]}, headers=as_carol)
    assert made.status_code == 201, made.text
    carol_token = made.json()["token"]
    assert http.get("/v1/members", headers=bearer(carol_token)).status_code == 200
    gone = http.delete(f"/v1/members/{carol}", headers=as_owner)
    assert gone.status_code == 204, gone.text
    assert http.get("/v1/members", headers=bearer(carol_token)).status_code == 401
    (row,) = fetch(module_database_url, "SELECT revoked_at FROM api_tokens WHERE user_id = $1",
                   carol)  # fmt: skip
    assert row["revoked_at"] is not None
    assert http.delete(f"/v1/members/{carol}", headers=as_owner).status_code == 404

    # Every change is in the audit log, signed by who made it.
    (added_entry,) = [e for e in _entries(module_database_url, project, "member.added")
                      if e["email"] == "carol@example.com"]  # fmt: skip
    assert added_entry["actor_kind"] == "secret_key"
    assert added_entry["actor_label"].startswith("secret key sk_")
    assert added_entry["role"] == "analyst"
    cli_added = [e for e in _entries(module_database_url, project, "member.added")
                 if e["actor_kind"] == "cli"]  # fmt: skip
    assert cli_added and cli_added[0]["actor_label"].startswith("cli (")
    changes = _entries(module_database_url, project, "member.role_changed")
    assert {
        "actor_label": owner.email,
        "email": "carol@example.com",
        "old_role": "analyst",
        "new_role": "admin",
    }.items() <= next(e for e in changes if e["email"] == "carol@example.com").items()
    (removed,) = _entries(module_database_url, project, "member.removed")
    assert removed["actor_label"] == owner.email and removed["old_role"] == "admin"
    assert removed["tokens_revoked"] == 1


def test_a_token_does_what_its_scopes_allow_and_no_more(
    http: httpx.Client, project: Project, owner: Person, module_database_url: str
) -> None:
    analyst = add_person(module_database_url, project.id, "frank@example.com", "analyst")
    as_frank = _session(module_database_url, analyst, project)

    made = http.post("/v1/tokens", json={"name": "dashboards", "scopes": ["health:read"]},
                     headers=as_frank)  # fmt: skip
    assert made.status_code == 201, made.text
    token, info = made.json()["token"], made.json()["info"]
    assert token.startswith("cxp_") and info["prefix"] == token[:12]
    assert info["scopes"] == ["health:read"] and info["last_used_at"] is None
    (stored,) = fetch(module_database_url, "SELECT token_hash FROM api_tokens WHERE id = $1",
                      info["id"])  # fmt: skip
    assert token not in str(stored) and len(stored["token_hash"]) == 64

    assert http.get("/v1/accounts", headers=bearer(token)).status_code == 200
    refused = http.post("/v1/surveys", json={}, headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden" and "surveys:write" in refused.json()["message"]

    # last_used_at is set by a use (and written at most once a minute).
    listed = http.get("/v1/tokens", headers=as_frank).json()["tokens"]
    (mine,) = [t for t in listed if t["id"] == info["id"]]
    assert mine["last_used_at"] is not None
    assert "token" not in mine

    # Scopes are checked: unknown → 400 listing the valid ones; beyond the role → 403 naming it.
    unknown = http.post("/v1/tokens", json={"name": "x", "scopes": ["health:write"]},
                        headers=as_frank)  # fmt: skip
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_scope"
    assert "health:read" in unknown.json()["message"]
    beyond = http.post("/v1/tokens", json={"name": "x", "scopes": ["webhooks:write"]},
                       headers=as_frank)  # fmt: skip
    assert beyond.status_code == 403 and "webhooks:write" in beyond.json()["message"]
    admin = http.post("/v1/tokens", json={"name": "x", "scopes": ["admin"]}, headers=as_frank)
    assert admin.status_code == 403 and "'admin'" in admin.json()["message"]

    # Only a signed-in person makes tokens: not a token, not the secret key.
    minting = http.post("/v1/tokens", json={"name": "m", "scopes": ["tokens:own", "surveys:write"]},
                        headers=as_frank).json()["token"]  # fmt: skip
    by_token = http.post("/v1/tokens", json={"name": "y", "scopes": ["read"]},
                         headers=bearer(minting))  # fmt: skip
    assert by_token.status_code == 403 and by_token.json()["code"] == "person_required"
    by_key = http.post("/v1/tokens", json={"name": "y", "scopes": ["read"]},
                       headers=project.bearer)  # fmt: skip
    assert by_key.status_code == 403 and by_key.json()["code"] == "person_required"

    # A token never exceeds its person's current role: demoting Frank narrows it at once.
    assert http.post("/v1/surveys", json={}, headers=bearer(minting)).status_code == 400
    as_owner = _session(module_database_url, owner, project)
    demoted = http.patch(f"/v1/members/{analyst.user_id}", json={"role": "viewer"},
                         headers=as_owner)  # fmt: skip
    assert demoted.status_code == 200
    after = http.post("/v1/surveys", json={}, headers=bearer(minting))
    assert after.status_code == 403 and "surveys:write" in after.json()["message"]
    # surveys:write implied surveys:read, which a viewer keeps.
    assert http.get("/v1/surveys", headers=bearer(minting)).status_code == 200

    # Everyone's tokens: only with members:write.
    mine_only = http.get("/v1/tokens", params={"all": "true"}, headers=as_frank)
    assert mine_only.status_code == 403 and "members:write" in mine_only.json()["message"]
    everyone = http.get("/v1/tokens", params={"all": "true"}, headers=project.bearer)
    assert everyone.status_code == 200
    assert {info["id"]} <= {t["id"] for t in everyone.json()["tokens"]}

    # Revoked: 401 on the next request (no cache). Someone else's: 404 for a non-admin.
    other = add_person(module_database_url, project.id, "gina@example.com", "analyst")
    gina_token = http.post(
        "/v1/tokens",
        json={"name": "g", "scopes": ["read"]},
        headers=_session(module_database_url, other, project),
    ).json()
    not_yours = http.delete(f"/v1/tokens/{gina_token['info']['id']}", headers=as_frank)
    assert not_yours.status_code == 404
    assert http.delete(f"/v1/tokens/{info['id']}", headers=as_frank).status_code == 204
    revoked = http.get("/v1/accounts", headers=bearer(token))
    assert revoked.status_code == 401 and revoked.json()["code"] == "invalid_token"
    assert http.delete(f"/v1/tokens/{info['id']}", headers=as_frank).status_code == 404
    # An admin revokes anyone's.
    by_admin = http.delete(f"/v1/tokens/{gina_token['info']['id']}", headers=project.bearer)
    assert by_admin.status_code == 204
    assert http.get("/v1/accounts", headers=bearer(gina_token["token"])).status_code == 401

    (created,) = [e for e in _entries(module_database_url, project, "token.created")
                  if e["name"] == "dashboards"]  # fmt: skip
    assert created["actor_label"] == "frank@example.com" and created["scopes"] == ["health:read"]
    assert created["prefix"] == token[:12] and token not in str(created)
    revocations = _entries(module_database_url, project, "token.revoked")
    assert {(e["actor_kind"], e["name"]) for e in revocations} >= {
        ("member", "dashboards"),
        ("secret_key", "g"),
    }


def test_an_expired_token_is_refused(
    http: httpx.Client, project: Project, module_database_url: str
) -> None:
    person = add_person(module_database_url, project.id, "hank@example.com", "viewer")
    as_hank = _session(module_database_url, person, project)
    made = http.post(
        "/v1/tokens",
        json={"name": "short", "scopes": ["read"], "expires_in_days": 1},
        headers=as_hank,
    )
    assert made.status_code == 201, made.text
    token, token_id = made.json()["token"], made.json()["info"]["id"]
    assert made.json()["info"]["expires_at"] is not None
    assert http.get("/v1/accounts", headers=bearer(token)).status_code == 200
    fetch(module_database_url,
          "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1 "
          "RETURNING id", token_id)  # fmt: skip
    expired = http.get("/v1/accounts", headers=bearer(token))
    assert expired.status_code == 401 and expired.json()["code"] == "invalid_token"

    past = http.post(
        "/v1/tokens",
        json={"name": "p", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"},
        headers=as_hank,
    )
    assert past.status_code == 400 and past.json()["code"] == "invalid_token"


def test_tokens_from_the_cli_are_shown_once_and_revocable(
    http: httpx.Client, project: Project, owner: Person, module_database_url: str
) -> None:
    done = _cli(
        module_database_url,
        "tokens", "create", "--project", project.id, "--email", owner.email, "--name", "ci",
        "--scope", "health:read", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    import json

    created = json.loads(done.stdout)
    assert http.get("/v1/accounts", headers=bearer(created["token"])).status_code == 200
    listed = _cli(module_database_url, "tokens", "list", "--project", project.id)
    assert created["info"]["id"] in listed.stdout and created["token"] not in listed.stdout
    revoked = _cli(module_database_url, "tokens", "revoke", "--project", project.id,
                   created["info"]["id"])  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    assert http.get("/v1/accounts", headers=bearer(created["token"])).status_code == 401
    bad = _cli(module_database_url, "tokens", "create", "--project", project.id, "--email",
               owner.email, "--name", "x", "--scope", "nope")  # fmt: skip
    assert bad.returncode == 2 and "unknown scope 'nope'" in bad.stderr


def test_the_audit_route_filters_and_pages(
    http: httpx.Client, project: Project, other_project: Project
) -> None:
    first = http.get("/v1/audit", params={"limit": 2}, headers=project.bearer)
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["entries"]) == 2 and page["next_cursor"]
    ids = [e["id"] for e in page["entries"]]
    assert ids == sorted(ids, reverse=True)
    second = http.get("/v1/audit", params={"limit": 2, "cursor": page["next_cursor"]},
                      headers=project.bearer).json()  # fmt: skip
    assert all(e["id"] < ids[-1] for e in second["entries"])

    members = http.get("/v1/audit", params={"action": "member"}, headers=project.bearer).json()
    assert members["entries"] and {e["action"].split(".")[0] for e in members["entries"]} == {
        "member"
    }
    by_cli = http.get("/v1/audit", params={"actor": "frank@example.com"},
                      headers=project.bearer).json()  # fmt: skip
    assert by_cli["entries"] and {e["actor_label"] for e in by_cli["entries"]} == {
        "frank@example.com"
    }
    tokens = http.get("/v1/audit", params={"object_type": "token"}, headers=project.bearer).json()
    assert {e["object_type"] for e in tokens["entries"]} == {"token"}
    bad = http.get("/v1/audit", params={"cursor": "garbage!"}, headers=project.bearer)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
    # Another project sees none of this.
    assert http.get("/v1/audit", headers=other_project.bearer).json()["entries"] == []
    assert http.get("/v1/members", headers=other_project.bearer).json()["members"] == []


async def test_two_owners_demoted_at_once_leave_one_owner(
    conn: asyncpg.Connection, database_url: str
) -> None:
    """The last-owner rule holds under concurrency: the second demotion waits for the first's
    lock, then sees one owner left and is refused."""
    created = await create_project(conn, "Race")
    first = await create_user(conn, "first@example.com")
    second = await create_user(conn, "second@example.com")
    for user in (first, second):
        await add_member(conn, created.id, user.id, "owner")
    other = await asyncpg.connect(database_url)
    try:
        other_pid = other.get_server_pid()
        async with conn.transaction():
            change = await set_role(conn, created.id, first.id, "admin")
            assert change.old_role == "owner"
            racing = asyncio.create_task(set_role(other, created.id, second.id, "viewer"))
            deadline = time.monotonic() + 10
            while not await conn.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", other_pid
            ):
                assert time.monotonic() < deadline, "the second demotion never waited"
                assert not racing.done(), racing
                await asyncio.sleep(0.02)
        with pytest.raises(AccessError) as refused:
            await racing
        assert refused.value.code == "last_owner" and refused.value.status == 409
    finally:
        await other.close()
    roles = {row["user_id"]: row["role"] for row in await conn.fetch(
        "SELECT user_id, role FROM project_members WHERE project_id = $1", created.id)}  # fmt: skip
    assert roles == {first.id: "admin", second.id: "owner"}
    with pytest.raises(AccessError) as refused:
        await remove_member(conn, created.id, second.id)
    assert refused.value.code == "last_owner"
