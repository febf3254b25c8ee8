"""Saved views (``/v1/views``): own and shared, only the owner changes one, limits on the
query, one audit entry per change, roles (a viewer reads, an analyst writes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers.people import (
    Person,
    add_person,
    audit_entries,
    bearer,
    make_session,
    make_token,
    session_headers,
)
from tests.helpers.server import Project, RunningServer


class Who:
    def __init__(self, server: RunningServer, headers: dict[str, str]) -> None:
        self.client = server.client(headers=headers)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(path, json=body)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.client.patch(path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.client.delete(path)


@pytest.fixture(scope="module")
def people(
    server: RunningServer, project: Project, module_database_url: str
) -> dict[str, tuple[Person, Who]]:
    out = {}
    for role in ("analyst", "admin", "viewer"):
        person = add_person(module_database_url, project.id, f"{role}-views@example.com", role)
        cookie = make_session(module_database_url, person)
        out[role] = (person, Who(server, session_headers(cookie, project.id)))
    return out


VIEW = {"name": "Red renewals", "page": "accounts",
        "query": {"band": ["red"], "renewal_within": "90", "sort": "-mrr"}}  # fmt: skip


def test_create_list_share_and_owner_only_changes(
    people: dict[str, tuple[Person, Who]], project: Project, module_database_url: str
) -> None:
    analyst, ana = people["analyst"]
    _, admin = people["admin"]
    created = ana.post("/v1/views", VIEW)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["id"].startswith("view_")
    assert view["query"] == VIEW["query"] and view["shared"] is False and view["mine"] is True
    assert view["owner_label"] == analyst.email
    # Private: the admin neither lists nor reaches it.
    assert admin.get("/v1/views").json()["views"] == []
    assert admin.patch(f"/v1/views/{view['id']}", {"name": "x"}).status_code == 404
    shared = ana.patch(f"/v1/views/{view['id']}", {"shared": True, "name": "Red, shared"})
    assert shared.status_code == 200 and shared.json()["shared"] is True
    listed = admin.get("/v1/views", page="accounts").json()["views"]
    assert [(v["id"], v["mine"], v["name"]) for v in listed] == [(view["id"], False, "Red, shared")]
    assert admin.get("/v1/views", page="alerts").json()["views"] == []
    refused = admin.get("/v1/views", page="surveys")
    assert refused.status_code == 400, refused.text
    for answer in (
        admin.patch(f"/v1/views/{view['id']}", {"name": "mine now"}),
        admin.delete(f"/v1/views/{view['id']}"),
    ):
        assert answer.status_code == 403
        assert answer.json()["code"] == "not_view_owner"
        assert analyst.email in answer.json()["message"]
        assert "only its owner" in answer.json()["message"]
    # The owner's token is the owner too: views belong to the person.
    token = make_token(module_database_url, project.id, analyst, "views", ["views:write"])
    with httpx.Client(base_url=ana.client.base_url, headers=bearer(token)) as client:
        renamed = client.patch(f"/v1/views/{view['id']}", json={"query": {"q": "acme"}})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["query"] == {"q": "acme"} and renamed.json()["mine"] is True
    deleted = ana.delete(f"/v1/views/{view['id']}")
    assert deleted.status_code == 204
    assert ana.delete(f"/v1/views/{view['id']}").status_code == 404
    assert ana.get("/v1/views").json()["views"] == []
    entries = [
        (e.action, e.object_id, e.details)
        for e in reversed(audit_entries(module_database_url, project.id))  # oldest first
        if e.object_type == "view"
    ]
    assert entries == [
        ("view.created", view["id"], {"name": "Red renewals", "page": "accounts", "shared": False}),
        ("view.updated", view["id"], {"changed": ["name", "shared"]}),
        ("view.updated", view["id"], {"changed": ["query"]}),
        ("view.deleted", view["id"], {"name": "Red, shared", "page": "accounts"}),
    ]


def test_invalid_views_are_refused_with_a_reason(
    people: dict[str, tuple[Person, Who]],
) -> None:
    _, ana = people["analyst"]
    too_many = {f"k{i}": "v" for i in range(31)}
    too_big = {"q": "x" * 4100}
    for body, needle in (
        ({**VIEW, "query": too_many}, "at most 30"),
        ({**VIEW, "query": too_big}, "at most 4096"),
        ({**VIEW, "name": ""}, None),
        ({**VIEW, "name": "x" * 81}, None),
        ({**VIEW, "name": "   "}, "blank"),
        ({**VIEW, "page": "surveys"}, None),
        ({**VIEW, "query": {"band": 3}}, None),
        ({**VIEW, "query": {"band": [["red"]]}}, None),
        ({**VIEW, "query": ["band"]}, None),
        ({**VIEW, "query": {"": "x"}}, "non-empty"),
        ({**VIEW, "owner_id": "someone"}, None),
    ):
        answer = ana.post("/v1/views", body)
        assert answer.status_code == 400, (body, answer.text)
        if needle:
            assert needle in answer.json()["message"]
    created = ana.post("/v1/views", {**VIEW, "query": {f"k{i}": "v" for i in range(30)}})
    assert created.status_code == 201
    view_id = created.json()["id"]
    assert ana.patch(f"/v1/views/{view_id}", {}).status_code == 400
    assert ana.patch(f"/v1/views/{view_id}", {"page": "alerts"}).status_code == 400
    assert ana.patch(f"/v1/views/{view_id}", {"query": too_many}).status_code == 400
    assert ana.patch("/v1/views/view_nope", {"name": "x"}).status_code == 404
    assert ana.delete(f"/v1/views/{view_id}").status_code == 204


def test_viewer_reads_but_cannot_save(
    people: dict[str, tuple[Person, Who]], project: Project, server: RunningServer
) -> None:
    _, ana = people["analyst"]
    _, viewer = people["viewer"]
    shared = ana.post("/v1/views", {**VIEW, "shared": True}).json()
    assert [v["id"] for v in viewer.get("/v1/views").json()["views"]] == [shared["id"]]
    refused = viewer.post("/v1/views", VIEW)
    assert refused.status_code == 403 and "views:write" in refused.json()["message"]
    assert viewer.delete(f"/v1/views/{shared['id']}").status_code == 403
    # The secret key owns views of its own, by its label.
    with server.client(headers=project.bearer) as client:
        mine = client.post("/v1/views", json={**VIEW, "page": "alerts"})
        assert mine.status_code == 201 and mine.json()["mine"] is True
        listed = client.get("/v1/views").json()["views"]
        assert {v["id"]: v["mine"] for v in listed} == {
            shared["id"]: False,
            mine.json()["id"]: True,
        }
    assert ana.delete(f"/v1/views/{shared['id']}").status_code == 204
