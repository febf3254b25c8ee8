"""The audit log: each change through the private API leaves exactly one entry — who (kind and
label), what, which object, from which (anonymised) address, which request — in the transaction
of the change; a refused change leaves none; each project sees only its own entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.people import (
    Person,
    add_person,
    audit_entries,
    bearer,
    fetch,
    make_session,
    make_token,
    session_headers,
)
from tests.helpers.server import Project, RunningServer

NPS: dict[str, Any] = {
    "name": "Audit NPS",
    "kind": "nps",
    "question": {"en": "How likely are you to recommend us?"},
    "follow_up": {"default": {"en": "Why?"}},
}
ENTRY = """SELECT id, actor_kind, actor_id, actor_label, action, object_type, object_id,
                  details::text AS details, address, request_id, project_id
           FROM audit_log WHERE project_id = $1 AND id > $2 ORDER BY id"""


class Log:
    """The project's audit entries since the last look."""

    def __init__(self, database_url: str, project_id: str) -> None:
        self.database_url, self.project_id, self.seen = database_url, project_id, 0

    def new(self) -> list[dict[str, Any]]:
        rows = fetch(self.database_url, ENTRY, self.project_id, self.seen)
        for row in rows:
            row["details"] = json.loads(row["details"])
        if rows:
            self.seen = rows[-1]["id"]
        return rows

    def one(self, answer: httpx.Response, action: str, object_id: str | None) -> dict[str, Any]:
        """The single entry ``answer``'s request wrote, checked against it."""
        assert answer.status_code < 300, answer.text
        entries = self.new()
        assert [e["action"] for e in entries] == [action], entries
        (entry,) = entries
        assert entry["object_id"] == object_id
        assert entry["request_id"] == answer.headers["x-request-id"]
        assert entry["address"] == "127.0.0.0"  # 127.0.0.1, anonymised to its /24
        return entry

    def none(self, answer: httpx.Response, status: int) -> None:
        assert answer.status_code == status, answer.text
        assert self.new() == []


@pytest.fixture(scope="module")
def log(server: RunningServer, project: Project, module_database_url: str) -> Log:
    return Log(module_database_url, project.id)


@pytest.fixture(scope="module")
def key_client(server: RunningServer, project: Project) -> Iterator[httpx.Client]:
    with server.client(headers=project.bearer) as client:
        yield client


def _open_alert(database_url: str, project_id: str, response_id: str) -> int:
    (row,) = fetch(
        database_url,
        """INSERT INTO alerts (project_id, response_id, kind, score, comment, responded_at)
           VALUES ($1, $2, 'nps', 2, 'The export is too slow', now()) RETURNING id""",
        project_id,
        response_id,
    )
    return int(row["id"])


def _by_key(entry: dict[str, Any], project: Project) -> None:
    assert entry["actor_kind"] == "secret_key" and entry["actor_id"] is None
    assert entry["actor_label"] == f"secret key {project.secret_key[:11]}…"


def test_survey_changes_are_each_one_entry(
    log: Log, key_client: httpx.Client, project: Project
) -> None:
    log.new()
    created = key_client.post("/v1/surveys", json=NPS)
    survey_id = created.json()["id"]
    entry = log.one(created, "survey.created", survey_id)
    _by_key(entry, project)
    assert entry["object_type"] == "survey"
    assert entry["details"] == {"name": "Audit NPS", "kind": "nps", "status": "draft"}

    patched = key_client.patch(
        f"/v1/surveys/{survey_id}", json={"name": "Renamed", "sample_percent": 20}
    )
    entry = log.one(patched, "survey.updated", survey_id)
    assert entry["details"]["changed"] == ["name", "sample_percent"]
    assert entry["details"]["name"] == "Renamed"

    replaced = key_client.put(f"/v1/surveys/{survey_id}", json={**NPS, "question": {"en": "New?"}})
    entry = log.one(replaced, "survey.replaced", survey_id)
    assert entry["details"]["changed"] == ["name", "question", "sample_percent"]
    assert "New?" not in json.dumps(entry["details"])  # names of fields, never their texts

    for verb, action, status, previous in [
        ("activate", "survey.activated", "active", "draft"),
        ("pause", "survey.paused", "paused", "active"),
    ]:
        answer = key_client.post(f"/v1/surveys/{survey_id}/{verb}")
        entry = log.one(answer, action, survey_id)
        assert (entry["details"]["status"], entry["details"]["previous_status"]) == (
            status,
            previous,
        )

    deleted = key_client.delete(f"/v1/surveys/{survey_id}")
    entry = log.one(deleted, "survey.deleted", survey_id)
    assert entry["details"] == {"name": "Audit NPS", "kind": "nps", "status": "paused"}


def test_refused_changes_leave_no_entry(log: Log, key_client: httpx.Client) -> None:
    survey_id = key_client.post("/v1/surveys", json=NPS).json()["id"]
    log.new()
    log.none(key_client.patch(f"/v1/surveys/{survey_id}", json={"kind": "nope"}), 400)
    log.none(key_client.patch(f"/v1/surveys/{survey_id}", json={"sample_percent": 900}), 400)
    log.none(key_client.put("/v1/surveys/srv_missing", json=NPS), 404)
    log.none(key_client.delete("/v1/surveys/srv_missing"), 404)
    log.none(key_client.post("/v1/surveys/srv_missing/activate"), 404)
    log.none(key_client.patch("/v1/alerts/999999", json={"status": "resolved"}), 404)
    log.none(key_client.post("/v1/alerts/999999/notes", json={"text": "hello"}), 404)
    log.none(key_client.post("/v1/alerts/999999/notes", json={"text": "  "}), 400)
    log.none(
        key_client.post("/v1/webhooks", json={"url": "ftp://x", "events": ["alert.opened"]}), 400
    )
    log.none(key_client.delete("/v1/webhooks/whk_missing"), 404)
    log.none(key_client.post("/v1/webhooks/whk_missing/test"), 404)
    log.none(key_client.put("/v1/health/config", json={"green_at": 10, "yellow_at": 50}), 400)
    log.none(key_client.put("/v1/insights/config", json={"competitors": "not a list"}), 400)


def test_configuration_and_refresh_entries(
    log: Log, key_client: httpx.Client, project: Project
) -> None:
    config = key_client.get("/v1/health/config").json()
    log.new()
    answer = key_client.put(
        "/v1/health/config", json={**config, "green_at": 70, "drop_threshold": 5}
    )
    entry = log.one(answer, "health_config.updated", None)
    _by_key(entry, project)
    assert entry["object_type"] == "health_config"
    assert entry["details"] == {"changed": ["drop_threshold", "green_at"]}

    refreshed = key_client.post("/v1/health/refresh")
    entry = log.one(refreshed, "health.refreshed", None)
    assert entry["details"]["accounts"] == refreshed.json()["accounts"]

    insights = key_client.put("/v1/insights/config", json={"competitors": ["飞书"]})
    entry = log.one(insights, "insights_config.updated", None)
    assert entry["details"] == {"version": insights.json()["version"]}


def test_alert_changes_and_notes(
    log: Log, key_client: httpx.Client, project: Project, module_database_url: str
) -> None:
    alert_id = _open_alert(module_database_url, project.id, "resp-audit-1")
    path = f"/v1/alerts/{alert_id}"
    log.new()
    answer = key_client.patch(path, json={"status": "acknowledged", "assignee": "li.wei"})
    entry = log.one(answer, "alert.updated", str(alert_id))
    assert entry["details"] == {
        "status": {"from": "open", "to": "acknowledged"},
        "assignee": {"from": None, "to": "li.wei"},
    }
    # A PATCH that changes nothing is no action: no entry.
    log.none(key_client.patch(path, json={"status": "acknowledged"}), 200)
    answer = key_client.patch(path, json={"assignee": None})
    assert log.one(answer, "alert.updated", str(alert_id))["details"] == {
        "assignee": {"from": "li.wei", "to": None}
    }

    text = "Called them: the export fix ships Friday."
    noted = key_client.post(f"{path}/notes", json={"text": text})
    entry = log.one(noted, "alert.note_added", str(alert_id))
    assert entry["details"] == {"length": len(text)}
    assert "Friday" not in json.dumps(entry)
    note = noted.json()["notes"][-1]
    assert note["author"] == f"secret key {project.secret_key[:11]}…"
    assert (note["author_kind"], note["author_id"]) == ("secret_key", None)


def test_webhook_entries_keep_the_host_only(
    log: Log, key_client: httpx.Client, project: Project
) -> None:
    url = "https://hooks.example.com/cxloop/T0K3N-in-the-path?secret=s3cr3t"
    log.new()
    created = key_client.post("/v1/webhooks", json={"url": url, "events": ["alert.opened"]})
    webhook_id = created.json()["id"]
    entry = log.one(created, "webhook.created", webhook_id)
    _by_key(entry, project)
    assert entry["details"] == {"host": "hooks.example.com", "events": ["alert.opened"]}
    assert "s3cr3t" not in json.dumps(entry) and "T0K3N" not in json.dumps(entry)

    tested = key_client.post(f"/v1/webhooks/{webhook_id}/test")
    entry = log.one(tested, "webhook.tested", webhook_id)
    assert entry["details"]["delivery_id"] == tested.json()["id"]
    assert entry["details"]["host"] == "hooks.example.com"

    deleted = key_client.delete(f"/v1/webhooks/{webhook_id}")
    assert log.one(deleted, "webhook.deleted", webhook_id)["details"]["host"] == "hooks.example.com"


@pytest.fixture(scope="module")
def analyst(project: Project, module_database_url: str) -> Person:
    return add_person(module_database_url, project.id, "Ana.Analyst@Example.com", "analyst")


def test_people_and_tokens_sign_their_entries_and_notes(
    server: RunningServer,
    log: Log,
    project: Project,
    module_database_url: str,
    analyst: Person,
) -> None:
    alert_id = _open_alert(module_database_url, project.id, "resp-audit-2")
    cookie = make_session(module_database_url, analyst)
    token = make_token(module_database_url, project.id, analyst, "crm sync", ["alerts:write"])
    log.new()
    with server.client(headers=session_headers(cookie, project.id)) as console:
        # A body author is ignored for a person: the note is theirs.
        noted = console.post(
            f"/v1/alerts/{alert_id}/notes", json={"author": "mallory", "text": "hi"}
        )
        entry = log.one(noted, "alert.note_added", str(alert_id))
    assert (entry["actor_kind"], entry["actor_id"]) == ("member", analyst.user_id)
    assert entry["actor_label"] == analyst.email
    note = noted.json()["notes"][-1]
    assert (note["author"], note["author_kind"], note["author_id"]) == (
        analyst.email,
        "member",
        analyst.user_id,
    )

    with server.client(headers=bearer(token)) as crm:
        noted = crm.post(f"/v1/alerts/{alert_id}/notes", json={"author": "mallory", "text": "hey"})
        entry = log.one(noted, "alert.note_added", str(alert_id))
        # The token has alerts:write only: a survey change is refused and leaves nothing.
        log.none(crm.post("/v1/surveys", json=NPS), 403)
    label = f"token crm sync ({analyst.email})"
    assert (entry["actor_kind"], entry["actor_label"]) == ("token", label)
    assert entry["actor_id"].startswith("tok_")
    note = noted.json()["notes"][-1]
    assert (note["author"], note["author_kind"], note["author_id"]) == (
        label,
        "token",
        analyst.user_id,
    )

    # With the secret key (no person behind it) a given author is kept, marked as such.
    with server.client(headers=project.bearer) as key_client:
        noted = key_client.post(
            f"/v1/alerts/{alert_id}/notes", json={"author": "li.wei", "text": "ok"}
        )
        log.one(noted, "alert.note_added", str(alert_id))
    assert (
        noted.json()["notes"][-1]["author"] == f"li.wei (via secret key {project.secret_key[:11]}…)"
    )


def test_entries_are_tenant_isolated(
    server: RunningServer,
    log: Log,
    project: Project,
    other_project: Project,
    module_database_url: str,
) -> None:
    with server.client(headers=project.bearer) as mine:
        ours = mine.post("/v1/surveys", json={**NPS, "name": "Acme only"}).json()["id"]
    log.new()
    theirs_log = Log(module_database_url, other_project.id)
    theirs_log.new()
    with server.client(headers=other_project.bearer) as other:
        created = other.post("/v1/surveys", json={**NPS, "name": "Globex only"})
        theirs_log.one(created, "survey.created", created.json()["id"])
        # The other project's key cannot reach this project's survey, and logs nothing anywhere.
        theirs_log.none(other.delete(f"/v1/surveys/{ours}"), 404)
        theirs_log.none(other.patch(f"/v1/surveys/{ours}", json={"name": "x"}), 404)
    assert log.new() == []

    # What GET /v1/audit reads (cxloop.access.list_audit): each project its own entries only.
    acme = audit_entries(module_database_url, project.id)
    globex = audit_entries(module_database_url, other_project.id)
    assert acme and globex
    assert not {e.id for e in acme} & {e.id for e in globex}
    assert all("Globex" not in json.dumps(e.details) for e in acme)
    assert [e.details["name"] for e in globex if e.action == "survey.created"] == ["Globex only"]
    assert {e.actor_label for e in globex} == {f"secret key {other_project.secret_key[:11]}…"}
