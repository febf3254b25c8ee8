"""Console sign-in against a real server and PostgreSQL: cookie flags, sessions on private
routes with the role's permissions, CSRF, session fixation, sign-out everywhere, lockout and
the per-address limit, one-time reset links, password changes, idle and absolute expiry, and
the ``cxloop users`` commands.

The server trusts ``X-Forwarded-For`` so each test signs in from an address of its own: the
per-address limit of one test does not spill into another.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner

from cxloop.access import (
    AccessError,
    LoginPolicy,
    address_key,
    create_password_reset,
    create_session,
    create_user,
    session_user,
    use_password_reset,
)
from cxloop.access import login as login_module
from cxloop.db import create_pool
from cxloop.team import users_group
from tests.helpers.server import Project, RunningServer

PASSWORD = "correct horse battery"
SURVEY: dict[str, Any] = {
    "name": "Session NPS",
    "kind": "nps",
    "question": {"en": "How likely are you to recommend us?"},
    "trigger": {"event": "Report Exported"},
}
_addresses = itertools.count(1)
_emails = itertools.count(1)


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    return {"trust_forwarded_for": True}


def _sql(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def users(database_url: str, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(users_group, [*args, "--database-url", database_url], input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def person(database_url: str, project: Project | None, role: str = "owner") -> str:
    """A new person with PASSWORD, a member of ``project`` in ``role``; their email."""
    email = f"person{next(_emails)}@example.com"
    where = ["--project", project.id, "--role", role] if project is not None else []
    users(database_url, "create", email, *where, "--password-stdin", stdin=PASSWORD + "\n")
    return email


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    """A browser of its own: its own cookies, its own client address."""
    address = f"198.51.100.{next(_addresses)}"
    with server.client(headers={"X-Forwarded-For": address}) as client:
        yield client


def other_browser(server: RunningServer) -> httpx.Client:
    return server.client(headers={"X-Forwarded-For": f"198.51.100.{next(_addresses)}"})


def sign_in(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    answer = client.post("/v1/session", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def set_cookie(answer: httpx.Response) -> str:
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    assert len(cookies) == 1, cookies
    return cookies[0]


def test_sign_in_sets_a_session_cookie_and_answers_who_and_where(
    server: RunningServer, project: Project, module_database_url: str, browser: httpx.Client
) -> None:
    email = person(module_database_url, project, "owner")
    answer = browser.post("/v1/session", json={"email": email.upper(), "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    cookie = set_cookie(answer)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert re.fullmatch(r"cxloop_session=[a-z0-9_-]{43}", attributes[0]), cookie
    assert {"httponly", "samesite=lax", "path=/", "max-age=43200"} <= set(attributes)
    assert "secure" not in attributes  # plain http, no trusted X-Forwarded-Proto
    body = answer.json()
    assert body["user"]["email"] == email
    assert body["projects"] == [
        {
            "id": project.id,
            "name": "acme",
            "role": "owner",
            "permissions": body["projects"][0]["permissions"],
        }
    ]
    assert {"keys:write", "owners:write", "members:write"} <= set(
        body["projects"][0]["permissions"]
    )
    assert body["idle_timeout_s"] == 7200
    assert len(body["csrf_token"]) == 43

    again = browser.get("/v1/session")
    assert again.status_code == 200
    assert again.json()["user"] == body["user"] and again.json()["csrf_token"] == body["csrf_token"]

    # Behind a TLS proxy the operator trusts, the cookie is Secure.
    with other_browser(server) as proxied:
        tls = proxied.post(
            "/v1/session",
            json={"email": email, "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert tls.status_code == 200
        assert "secure" in [p.strip().lower() for p in set_cookie(tls).split(";")]


def test_a_wrong_email_and_a_wrong_password_get_the_same_answer(
    project: Project, module_database_url: str, browser: httpx.Client
) -> None:
    email = person(module_database_url, project, "viewer")
    wrong_password = browser.post("/v1/session", json={"email": email, "password": "nope" * 4})
    unknown = browser.post(
        "/v1/session", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    not_an_address = browser.post("/v1/session", json={"email": "nobody", "password": PASSWORD})
    for answer in (wrong_password, unknown, not_an_address):
        assert answer.status_code == 401
        assert answer.json()["code"] == "invalid_credentials"
        assert "set-cookie" not in answer.headers
    assert wrong_password.json()["message"] == unknown.json()["message"]
    assert browser.get("/v1/session").json()["code"] == "not_signed_in"


def test_a_session_acts_with_its_role_in_its_project(
    project: Project, other_project: Project, module_database_url: str, server: RunningServer
) -> None:
    viewer = person(module_database_url, project, "viewer")
    analyst = person(module_database_url, project, "analyst")
    with other_browser(server) as as_viewer, other_browser(server) as as_analyst:
        viewer_csrf = sign_in(as_viewer, viewer)["csrf_token"]
        analyst_csrf = sign_in(as_analyst, analyst)["csrf_token"]
        # Their only project, without naming it; and naming it.
        assert as_viewer.get("/v1/surveys").status_code == 200
        listed = as_viewer.get("/v1/surveys", headers={"X-Cxloop-Project": project.id})
        assert listed.status_code == 200
        refused = as_viewer.post("/v1/surveys", json=SURVEY, headers={"X-CSRF-Token": viewer_csrf})
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"
        assert "surveys:write" in refused.json()["message"]
        created = as_analyst.post(
            "/v1/surveys",
            json=SURVEY,
            headers={"X-CSRF-Token": analyst_csrf, "X-Cxloop-Project": project.id},
        )
        assert created.status_code == 201, created.text

        # Another project: not theirs.
        foreign = as_analyst.get("/v1/surveys", headers={"X-Cxloop-Project": other_project.id})
        assert foreign.status_code == 403 and foreign.json()["code"] == "not_a_member"
        assert created.json()["id"] not in foreign.text

        # Two projects: the request must say which.
        user_id = sign_in(as_analyst, analyst)["user"]["id"]
        _sql(
            module_database_url,
            "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'viewer')",
            other_project.id,
            user_id,
        )
        ambiguous = as_analyst.get("/v1/surveys")
        assert ambiguous.status_code == 400 and ambiguous.json()["code"] == "project_required"
        assert project.id in ambiguous.json()["message"]
        theirs = as_analyst.get("/v1/surveys", headers={"X-Cxloop-Project": other_project.id})
        assert theirs.status_code == 200
        assert created.json()["id"] not in theirs.text  # the other project's surveys only


def test_unsafe_requests_with_a_session_need_the_csrf_token(
    project: Project, module_database_url: str, browser: httpx.Client
) -> None:
    email = person(module_database_url, project, "analyst")
    token = sign_in(browser, email)["csrf_token"]
    altered = token[:-1] + ("B" if token.endswith("A") else "A")  # one character off, always
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": altered}):
        answer = browser.post("/v1/surveys", json=SURVEY, headers=headers)
        assert answer.status_code == 403, headers
        assert answer.json()["code"] == "csrf_failed"
        assert "X-CSRF-Token" in answer.json()["message"]
    assert browser.delete("/v1/session").json()["code"] == "csrf_failed"
    assert browser.post("/v1/session/revoke-all").json()["code"] == "csrf_failed"
    assert (
        browser.post("/v1/surveys", json=SURVEY, headers={"X-CSRF-Token": token}).status_code == 201
    )
    assert browser.get("/v1/surveys").status_code == 200  # safe methods need none


def test_a_bearer_credential_needs_no_csrf_token_and_wins_over_a_cookie(
    project: Project, module_database_url: str, browser: httpx.Client
) -> None:
    email = person(module_database_url, project, "viewer")
    sign_in(browser, email)
    # The viewer's cookie goes along, but the secret key (an admin) decides.
    answer = browser.post("/v1/surveys", json=SURVEY, headers=project.bearer)
    assert answer.status_code == 201, answer.text


def test_a_cookie_planted_before_sign_in_is_never_the_session(
    project: Project, module_database_url: str, server: RunningServer
) -> None:
    victim = person(module_database_url, project, "admin")
    attacker = person(module_database_url, project, "viewer")
    with other_browser(server) as attacker_browser, other_browser(server) as victim_browser:
        sign_in(attacker_browser, attacker)
        planted = attacker_browser.cookies["cxloop_session"]
        # The attacker plants their own live session in the victim's browser, and a made-up one.
        for value in (planted, "attacker-chosen-value"):
            host = urlsplit(server.url).hostname or ""
            victim_browser.cookies.set("cxloop_session", value, domain=host, path="/")
            body = sign_in(victim_browser, victim)
            fresh = victim_browser.cookies["cxloop_session"]
            assert fresh != value
            assert body["user"]["email"] == victim
        # The planted live session was ended by the victim's sign-in: it serves nobody now.
        assert attacker_browser.get("/v1/session").status_code == 401
        assert victim_browser.get("/v1/session").json()["user"]["email"] == victim


def test_sign_out_and_sign_out_everywhere(
    project: Project, module_database_url: str, server: RunningServer
) -> None:
    email = person(module_database_url, project, "viewer")
    with (
        other_browser(server) as laptop,
        other_browser(server) as phone,
        other_browser(server) as tablet,
    ):
        sign_in(tablet, email)
        tablet_csrf = tablet.get("/v1/session").json()["csrf_token"]
        signed_out = tablet.delete("/v1/session", headers={"X-CSRF-Token": tablet_csrf})
        assert signed_out.status_code == 204
        assert "max-age=0" in set_cookie(signed_out).lower()
        assert tablet.get("/v1/session").status_code == 401

        sign_in(laptop, email)
        phone_csrf = sign_in(phone, email)["csrf_token"]
        assert laptop.get("/v1/surveys").status_code == 200
        # The phone says: sign me out everywhere (the laptop was lost).
        revoked = phone.post("/v1/session/revoke-all", headers={"X-CSRF-Token": phone_csrf})
        assert revoked.status_code == 200 and revoked.json() == {"ended": 2}
        assert laptop.get("/v1/surveys").json()["code"] == "invalid_session"
        assert laptop.get("/v1/session").status_code == 401
        assert phone.get("/v1/session").status_code == 401
    audit = _sql(
        module_database_url,
        "SELECT actor_kind, actor_label FROM audit_log WHERE action = 'console_user.sessions_revoked'"
        " AND project_id = $1 AND actor_label = $2",
        project.id,
        email,
    )
    assert [(row["actor_kind"], row["actor_label"]) for row in audit] == [("member", email)]


def test_five_wrong_passwords_lock_the_account_until_an_owner_unlocks_it(
    project: Project, module_database_url: str, browser: httpx.Client
) -> None:
    email = person(module_database_url, project, "analyst")
    for _ in range(5):
        wrong = browser.post("/v1/session", json={"email": email, "password": "wrong password"})
        assert wrong.status_code == 401
    locked = browser.post("/v1/session", json={"email": email, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked"
    assert 800 <= int(locked.headers["retry-after"]) <= 900
    assert "cxloop users unlock" in locked.json()["message"]
    assert email in users(module_database_url, "list")  # listed with its lock
    listed = json.loads(users(module_database_url, "list", "--json"))
    assert [p["locked_until"] is not None for p in listed if p["email"] == email] == [True]

    assert "Unlocked" in users(module_database_url, "unlock", email)
    sign_in(browser, email)
    assert "nothing changed" in users(module_database_url, "unlock", email)
    audit = _sql(
        module_database_url,
        "SELECT actor_kind, actor_label FROM audit_log WHERE action = 'console_user.unlocked'"
        " AND project_id = $1",
        project.id,
    )
    assert [row["actor_kind"] for row in audit] == ["cli"]
    assert audit[0]["actor_label"].startswith("cli (")


def test_too_many_failures_from_one_address_are_refused_for_a_while(
    project: Project, module_database_url: str, browser: httpx.Client, server: RunningServer
) -> None:
    email = person(module_database_url, project, "viewer")
    for n in range(20):  # unknown emails: no person's lockout, only the address's count
        answer = browser.post(
            "/v1/session", json={"email": f"guess{n}@example.com", "password": "x" * 12}
        )
        assert answer.status_code == 401
    refused = browser.post("/v1/session", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_attempts"
    assert 1 <= int(refused.headers["retry-after"]) <= 900
    with other_browser(server) as elsewhere:  # another address is not affected
        sign_in(elsewhere, email)


def test_a_reset_link_works_once_and_ends_every_session(
    project: Project, module_database_url: str, server: RunningServer, browser: httpx.Client
) -> None:
    email = person(module_database_url, project, "viewer")
    sign_in(browser, email)
    printed = users(module_database_url, "reset-password", email)
    token = re.search(r"/console/reset#([A-Za-z0-9_-]+)", printed)
    assert token is not None, printed
    assert f"/v1/password-resets/{token[1]}" in printed  # the API call, spelled out

    with other_browser(server) as anyone:
        weak = anyone.post(f"/v1/password-resets/{token[1]}", json={"password": "short"})
        assert weak.status_code == 400 and weak.json()["code"] == "weak_password"
        done = anyone.post(f"/v1/password-resets/{token[1]}", json={"password": "a new passphrase"})
        assert done.status_code == 200, done.text
        assert done.json()["email"] == email
        again = anyone.post(
            f"/v1/password-resets/{token[1]}", json={"password": "another passphrase"}
        )
        assert again.status_code == 404 and again.json()["code"] == "invalid_reset_link"

    assert browser.get("/v1/session").status_code == 401  # the old session ended
    old = browser.post("/v1/session", json={"email": email, "password": PASSWORD})
    assert old.status_code == 401
    sign_in(browser, email, "a new passphrase")
    stored = _sql(module_database_url, "SELECT token_hash FROM password_resets")
    assert all(token[1] not in row["token_hash"] for row in stored)


def test_changing_ones_password_ends_every_other_session(
    project: Project, module_database_url: str, server: RunningServer
) -> None:
    email = person(module_database_url, project, "viewer")
    with other_browser(server) as here, other_browser(server) as there:
        csrf = sign_in(here, email)["csrf_token"]
        sign_in(there, email)
        wrong = here.post(
            "/v1/session/password",
            json={"current_password": "not it at all", "new_password": "a new passphrase"},
            headers={"X-CSRF-Token": csrf},
        )
        assert wrong.status_code == 403 and wrong.json()["code"] == "wrong_password"
        weak = here.post(
            "/v1/session/password",
            json={"current_password": PASSWORD, "new_password": email},
            headers={"X-CSRF-Token": csrf},
        )
        assert weak.status_code == 400 and weak.json()["code"] == "weak_password"
        changed = here.post(
            "/v1/session/password",
            json={"current_password": PASSWORD, "new_password": "a new passphrase"},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["csrf_token"] != csrf  # a fresh session for this browser
        assert here.get("/v1/session").status_code == 200
        assert there.get("/v1/session").status_code == 401
    with other_browser(server) as later:
        assert (
            later.post("/v1/session", json={"email": email, "password": PASSWORD}).status_code
            == 401
        )
        sign_in(later, email, "a new passphrase")


@pytest.mark.parametrize(
    "ageing",
    [
        # Idle: no request for longer than the idle timeout (2 h).
        "UPDATE console_sessions SET last_seen_at = now() - interval '2 hours 1 minute'",
        # Absolute: past the session's lifetime, however active.
        "UPDATE console_sessions SET expires_at = now() - interval '1 second'",
    ],
)
def test_a_session_ends_when_idle_or_too_old(
    project: Project, module_database_url: str, browser: httpx.Client, ageing: str
) -> None:
    email = person(module_database_url, project, "viewer")
    user_id = sign_in(browser, email)["user"]["id"]
    assert browser.get("/v1/surveys").status_code == 200
    _sql(module_database_url, ageing + " WHERE user_id = $1", user_id)
    assert browser.get("/v1/surveys").json()["code"] == "invalid_session"
    assert browser.get("/v1/session").status_code == 401
    # Ended for good: the row is gone, not merely refused.
    rows = _sql(module_database_url, "SELECT 1 FROM console_sessions WHERE user_id = $1", user_id)
    assert rows == []


def test_users_create_prints_a_one_time_link_and_audits(
    project: Project, module_database_url: str, server: RunningServer
) -> None:
    email = f"New.Person{next(_emails)}@Example.com"
    printed = users(module_database_url, "create", email, "--name", "New Person",
                    "--project", "acme", "--role", "analyst")  # fmt: skip
    assert "/console/reset#" in printed and "curl -X POST" in printed
    created = json.loads(users(module_database_url, "list", "--json"))
    mine = [p for p in created if p["email"] == email]
    assert len(mine) == 1 and mine[0]["has_password"] is False
    assert mine[0]["projects"] == [{"id": project.id, "role": "analyst"}]
    # Not yet able to sign in (no password), and the answer does not say why.
    with other_browser(server) as browser:
        answer = browser.post("/v1/session", json={"email": email, "password": PASSWORD})
        assert answer.json()["code"] == "invalid_credentials"
        token = re.search(r"/console/reset#([A-Za-z0-9_-]+)", printed)
        assert token is not None
        assert (
            browser.post(f"/v1/password-resets/{token[1]}", json={"password": PASSWORD}).status_code
            == 200
        )
        body = sign_in(browser, email.lower())
        assert body["user"]["name"] == "New Person"
        assert body["projects"][0]["role"] == "analyst"
    result = CliRunner().invoke(
        users_group, ["create", email.upper(), "--database-url", module_database_url]
    )
    assert result.exit_code != 0 and "already has an account" in result.output
    audit = _sql(
        module_database_url,
        "SELECT actor_kind, details->>'email' AS email FROM audit_log"
        " WHERE action = 'console_user.created' AND project_id = $1 AND details->>'email' = $2",
        project.id,
        email,
    )
    assert [row["actor_kind"] for row in audit] == ["cli"]


def test_a_person_in_no_project_signs_in_but_reaches_no_project(
    module_database_url: str, browser: httpx.Client
) -> None:
    email = person(module_database_url, None)
    assert sign_in(browser, email)["projects"] == []
    answer = browser.get("/v1/surveys")
    assert answer.status_code == 403 and answer.json()["code"] == "not_a_member"


# The stores on their own, over one connection (no server).

POLICY = LoginPolicy(max_failures=5, lockout_s=900, address_limit=20)


async def test_a_hash_made_with_older_parameters_is_replaced_at_sign_in(
    conn: asyncpg.Connection,
) -> None:
    user = await create_user(conn, "old@example.com", password=PASSWORD)
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await conn.execute("UPDATE console_users SET password_hash = $1 WHERE id = $2", weaker, user.id)
    await login_module.sign_in(
        conn, "old@example.com", PASSWORD, address="192.0.2.1", policy=POLICY
    )
    stored = await conn.fetchval("SELECT password_hash FROM console_users WHERE id = $1", user.id)
    assert stored != weaker and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    await login_module.sign_in(
        conn, "old@example.com", PASSWORD, address="192.0.2.1", policy=POLICY
    )


async def test_sign_in_attempts_are_kept_a_day(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login_module, "_last_prune", float("-inf"))
    await conn.execute(
        "INSERT INTO login_attempts (at, address, email_key, succeeded) VALUES "
        "(now() - interval '25 hours', 'a', 'x@example.com', false), "
        "(now() - interval '23 hours', 'b', 'y@example.com', false)"
    )
    with pytest.raises(AccessError):
        await login_module.sign_in(
            conn, "z@example.com", PASSWORD, address="192.0.2.2", policy=POLICY
        )
    kept = await conn.fetch("SELECT address, email_key FROM login_attempts ORDER BY at")
    assert [row["email_key"] for row in kept] == ["y@example.com", "z@example.com"]
    assert kept[1]["address"] == address_key("192.0.2.2")  # a hash, not the address


async def test_wrong_passwords_sent_at_once_still_lock_the_account(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await create_user(conn, "many@example.com", password=PASSWORD)
    pool = await create_pool(database_url, min_size=1, max_size=8)
    try:

        async def attempt(n: int) -> str:
            async with pool.acquire() as own:
                try:
                    await login_module.sign_in(
                        own, "many@example.com", f"wrong {n:04d} guess", address=f"192.0.2.{n}",
                        policy=POLICY,
                    )  # fmt: skip
                except AccessError as exc:
                    return exc.code
            return "signed in"

        codes = await asyncio.gather(*(attempt(n) for n in range(8)))
    finally:
        await pool.close()
    assert set(codes) <= {"invalid_credentials", "locked"}
    assert codes.count("invalid_credentials") >= 5
    with pytest.raises(AccessError) as locked:
        await login_module.sign_in(
            conn, "many@example.com", PASSWORD, address="192.0.2.99", policy=POLICY
        )
    assert locked.value.code == "locked" and locked.value.retry_after is not None


async def test_only_the_last_reset_link_works_and_only_until_it_expires(
    conn: asyncpg.Connection,
) -> None:
    user = await create_user(conn, "links@example.com")
    first = await create_password_reset(conn, user.id)
    second = await create_password_reset(conn, user.id)
    with pytest.raises(AccessError) as voided:
        await use_password_reset(conn, first, "a fine passphrase")
    assert voided.value.code == "invalid_reset_link"
    await conn.execute("UPDATE password_resets SET expires_at = now() - interval '1 second'")
    with pytest.raises(AccessError) as expired:
        await use_password_reset(conn, second, "a fine passphrase")
    assert expired.value.code == "invalid_reset_link"
    third = await create_password_reset(conn, user.id, ttl_s=60)
    assert await use_password_reset(conn, third, "a fine passphrase") == user.id
    assert first not in str(await conn.fetch("SELECT * FROM password_resets"))


async def test_a_short_idle_timeout_ends_a_quiet_session_but_not_a_busy_one(
    conn: asyncpg.Connection,
) -> None:
    user = await create_user(conn, "idle@example.com", password=PASSWORD)
    cookie = await create_session(conn, user.id, address="192.0.2.5", user_agent="t", ttl_s=3600)
    # Busy: a request every 0.2 s for 4 s keeps a 2 s idle timeout from ending it (last seen
    # is touched every idle/4 = 0.5 s here, at most once a minute with real timeouts).
    loop = asyncio.get_running_loop()
    busy_until = loop.time() + 4
    while loop.time() < busy_until:
        assert await session_user(conn, cookie, idle_s=2) is not None
        await asyncio.sleep(0.2)
    # Quiet: it ends once 2 s pass without a request.
    deadline = loop.time() + 10
    while await session_user(conn, cookie, idle_s=2) is not None:
        assert loop.time() < deadline, "the idle session never ended"
        await asyncio.sleep(2.5)
    assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0
