"""The role × route matrix: every private route of the running app's OpenAPI schema, called with
every kind of credential — none, another project's key, each role (session and token), a token
per scope, the secret key. A caller without the route's permission gets ``403 forbidden`` naming
exactly that permission; one with it is never refused (the call may still be a 400/404/409: the
ids are placeholders); nobody reaches another project's data.

The permission of each route is read from docs/access.md's table (which
tests/unit/test_access_docs.py holds equal to the code), so a route added later is covered as
soon as it is served, and fails here until the docs give it a permission.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cxloop.access import PERMISSIONS, ROLES, SCOPES, role_permissions, token_permissions
from tests.helpers.access_docs import documented_routes
from tests.helpers.people import (
    Person,
    add_person,
    bearer,
    fetch,
    make_session,
    make_token,
    session_headers,
)
from tests.helpers.server import Project, RunningServer

MARKER = "matrix-marker-acme"  # a name only the first project's objects carry
NPS: dict[str, Any] = {
    "name": MARKER,
    "kind": "nps",
    "question": {"en": "How likely are you to recommend us?"},
}
# Valid bodies where a call may safely take effect; values the handler refuses (after the
# guard) where it may not: a rotated key or a retention change would change the test itself.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/surveys"): {**NPS, "name": "made in the matrix"},
    ("PUT", "/v1/surveys/{survey_id}"): NPS,
    ("PATCH", "/v1/surveys/{survey_id}"): {"sample_percent": 50},
    ("PUT", "/v1/health/config"): {"green_at": 60, "yellow_at": 40},
    ("PUT", "/v1/insights/config"): {},
    ("PATCH", "/v1/alerts/{alert_id}"): {"status": "acknowledged"},
    ("POST", "/v1/alerts/{alert_id}/notes"): {"text": "Called them."},
    ("POST", "/v1/webhooks"): {"url": "https://hooks.example.com/m", "events": ["alert.opened"]},
    ("POST", "/v1/members"): {"email": "invitee@acme.test", "role": "viewer"},
    ("PATCH", "/v1/members/{user_id}"): {"role": "viewer"},
    ("POST", "/v1/tokens"): {"name": "made in the matrix", "scopes": ["read"]},
    ("POST", "/v1/keys/secret/rotate"): {"grace_seconds": -1},
    ("POST", "/v1/keys/write/rotate"): {"grace_seconds": -1},
    ("POST", "/v1/privacy/deletions"): {},
    ("PUT", "/v1/privacy/retention"): {"retention_days": 0},
}
PLACEHOLDER_INT = 999_999_999


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as the schema writes it: /v1/surveys/{survey_id}
    permission: str
    integer_params: frozenset[str]
    has_body: bool

    def url(self, ids: dict[str, str]) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in ids:
                return ids[name]
            return str(PLACEHOLDER_INT) if name in self.integer_params else "placeholder"

        return re.sub(r"\{(\w+)\}", fill, self.path)

    def call(self, client: httpx.Client, ids: dict[str, str] | None = None) -> httpx.Response:
        body = BODIES.get((self.method, self.path), {} if self.has_body else None)
        return client.request(self.method, self.url(ids or {}), json=body)


@dataclass(frozen=True)
class Credential:
    name: str
    kind: str  # secret_key, session or token
    headers: dict[str, str]
    permissions: frozenset[str]


def _needs_a_person(route: Route, credential: Credential) -> bool:
    """Where ``tokens:own`` is not enough (docs/access.md): making a token needs a signed-in
    person (a token cannot mint tokens; the key has no person), listing one's own tokens needs a
    person; revoking is open to the key, an admin credential that may revoke anyone's."""
    if (route.method, route.path) == ("POST", "/v1/tokens"):
        return credential.kind != "session"
    if (route.method, route.path) == ("GET", "/v1/tokens"):
        return credential.kind == "secret_key"
    return False


def _private_routes(server: RunningServer) -> list[Route]:
    with server.client() as client:
        schema = client.get("/schema/openapi.json").json()
    permissions = documented_routes()
    routes = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            schemes = {name for option in operation.get("security", []) for name in option}
            if "secretKey" not in schemes:
                continue
            key = (method.upper(), path)
            assert key in permissions, f"{key} has no row in docs/access.md's Routes table"
            integer_params = frozenset(
                p["name"]
                for p in operation.get("parameters", [])
                if p["in"] == "path" and p.get("schema", {}).get("type") == "integer"
            )
            routes.append(
                Route(key[0], path, permissions[key], integer_params, "requestBody" in operation)
            )
    # Key routes last, so nothing the key routes might do could change the calls before them.
    return sorted(routes, key=lambda r: ("/v1/keys" in r.path, r.path, r.method))


@dataclass(frozen=True)
class World:
    routes: list[Route]
    credentials: list[Credential]
    people: dict[str, Person]
    own_ids: dict[str, str]  # the first project's real object ids, by path parameter


@pytest.fixture(scope="module")
def world(
    server: RunningServer, project: Project, other_project: Project, module_database_url: str
) -> World:
    url = module_database_url
    people = {role: add_person(url, project.id, f"{role}.m@acme.test", role) for role in ROLES}
    credentials = [
        Credential(
            "secret key", "secret_key", bearer(project.secret_key), role_permissions("admin")
        )
    ]
    for role, person in people.items():
        cookie = make_session(url, person)
        credentials.append(
            Credential(
                f"{role} (session)",
                "session",
                session_headers(cookie, project.id),
                role_permissions(role),
            )
        )
        token = make_token(url, project.id, person, "everything", ["admin"])
        credentials.append(
            Credential(
                f"{role} (admin token)", "token", bearer(token), token_permissions(["admin"], role)
            )
        )
    for number, scope in enumerate(SCOPES):
        # Token names carry no permission name: a 403 message must name exactly one.
        token = make_token(url, project.id, people["owner"], f"scoped {number}", [scope])
        credentials.append(
            Credential(
                f"token [{scope}]", "token", bearer(token), token_permissions([scope], "owner")
            )
        )

    with server.client(headers=project.bearer) as client:
        survey = client.post("/v1/surveys", json=NPS)
        assert survey.status_code == 201, survey.text
        webhook = client.post(
            "/v1/webhooks", json={"url": f"https://{MARKER}.example.com/", "events": ["ping"]}
        )
        assert webhook.status_code == 201, webhook.text
    (alert,) = fetch(
        url,
        """INSERT INTO alerts (project_id, response_id, kind, score, comment, responded_at)
           VALUES ($1, 'resp-matrix', 'nps', 1, $2, now()) RETURNING id""",
        project.id,
        MARKER,
    )
    own_ids = {
        "survey_id": survey.json()["id"],
        "webhook_id": webhook.json()["id"],
        "alert_id": str(alert["id"]),
        "user_id": people["viewer"].user_id,
    }
    return World(_private_routes(server), credentials, people, own_ids)


@pytest.fixture(scope="module")
def clients(server: RunningServer, world: World) -> Iterator[dict[str, httpx.Client]]:
    opened = {c.name: server.client(headers=c.headers) for c in world.credentials}
    try:
        yield opened
    finally:
        for client in opened.values():
            client.close()


def _named_permissions(message: str) -> set[str]:
    return {name for name in PERMISSIONS if f"'{name}'" in message}


def test_every_private_route_is_in_the_matrix(world: World) -> None:
    documented = documented_routes()
    assert {(r.method, r.path) for r in world.routes} == set(documented)
    assert len(world.routes) >= 37
    assert len(world.credentials) == 1 + 2 * len(ROLES) + len(SCOPES)


def test_no_credential_is_401(server: RunningServer, world: World) -> None:
    with server.client() as anonymous:
        for route in world.routes:
            answer = route.call(anonymous)
            assert answer.status_code == 401, (route, answer.text)
            assert set(answer.json()) >= {"code", "message"}


def test_each_credential_gets_exactly_its_permissions(
    world: World, clients: dict[str, httpx.Client]
) -> None:
    started = time.monotonic()
    failures = []
    refused = allowed = 0
    for route in world.routes:
        for credential in world.credentials:
            answer = route.call(clients[credential.name])
            where = f"{route.method} {route.path} as {credential.name}: {answer.status_code}"
            if route.permission not in credential.permissions:
                refused += 1
                body = answer.json()
                if answer.status_code != 403 or body.get("code") != "forbidden":
                    failures.append(f"{where}, expected 403 forbidden: {answer.text[:200]}")
                elif _named_permissions(body["message"]) != {route.permission}:
                    failures.append(f"{where}: the message names {body['message']!r}")
                elif body.get("permission") != route.permission:
                    failures.append(f"{where}: permission field {body.get('permission')!r}")
            elif _needs_a_person(route, credential):
                if (answer.status_code, answer.json().get("code")) != (403, "person_required"):
                    failures.append(f"{where}, expected 403 person_required: {answer.text[:200]}")
            else:
                allowed += 1
                if answer.status_code in (401, 403) or answer.status_code >= 500:
                    failures.append(f"{where}, has {route.permission}: {answer.text[:200]}")
    assert not failures, "\n".join(failures)
    # Both sides of the table were exercised, in bounded time.
    assert refused > len(world.routes) * 5 and allowed > len(world.routes) * 5, (refused, allowed)
    assert time.monotonic() - started < 60


def test_another_projects_key_never_reaches_this_projects_data(
    server: RunningServer, world: World, project: Project, other_project: Project
) -> None:
    secrets_of_this_project = [MARKER, project.id, *(p.email for p in world.people.values())]
    with server.client(headers=other_project.bearer) as other:
        for route in world.routes:
            answer = route.call(other, world.own_ids)
            where = f"{route.method} {route.path}: {answer.status_code}"
            assert answer.status_code < 500, (where, answer.text)
            leaked = [s for s in secrets_of_this_project if s in answer.text]
            assert not leaked, (where, leaked, answer.text[:300])
            names_own_object = any(f"{{{name}}}" in route.path for name in world.own_ids)
            if route.method == "GET" and names_own_object and "/exports/" not in route.path:
                assert answer.status_code == 404, (where, answer.text)
    # Nothing the other project's key asked for changed this project's objects.
    with server.client(headers=project.bearer) as mine:
        assert mine.get(f"/v1/surveys/{world.own_ids['survey_id']}").json()["name"] == MARKER
        assert mine.get(f"/v1/webhooks/{world.own_ids['webhook_id']}").status_code == 200
        alert = mine.get(f"/v1/alerts/{world.own_ids['alert_id']}").json()
        assert alert["notes"] == [] and alert["status"] == "open"
        members = {m["user_id"] for m in mine.get("/v1/members").json()["members"]}
        assert world.own_ids["user_id"] in members


def test_a_member_asking_for_another_project_is_not_a_member(
    server: RunningServer, world: World, other_project: Project, module_database_url: str
) -> None:
    cookie = make_session(module_database_url, world.people["owner"])
    headers = session_headers(cookie, other_project.id)
    with server.client(headers=headers) as console:
        for path in ("/v1/surveys", "/v1/alerts", "/v1/members", "/v1/audit"):
            answer = console.get(path)
            assert answer.status_code == 403, (path, answer.text)
            assert answer.json()["code"] == "not_a_member", answer.text
        refused = console.post("/v1/surveys", json=NPS)
        assert (refused.status_code, refused.json()["code"]) == (403, "not_a_member")
