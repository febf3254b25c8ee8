"""Closing the loop end to end: ratings through the real ingest API of a running
``cxloop serve`` → alerts → the alert API → signed webhooks to a real local receiver."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.helpers.receiver import Received, Receiver, running_receiver
from tests.helpers.server import Project, RunningServer


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    # Short retry delays and polling, so retries happen within the test's patience; the
    # receiver is on loopback, which webhooks may only reach when allowed.
    return {"webhook_retry_base_s": 0.05, "webhook_poll_s": 0.05, "webhook_allow_private": "true"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def api(server: RunningServer, project: Project) -> httpx.Client:
    return server.client(headers=project.bearer)


def rating(
    response_id: str,
    kind: str,
    score: float,
    *,
    partial: bool = False,
    comment: str | None = None,
    survey_id: str = "srv_loop",
    account: str = "acct_acme",
    user: str = "u1",
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "survey_id": survey_id,
        "response_id": response_id,
        "kind": kind,
        "score": score,
        "partial": partial,
    }
    if comment is not None:
        properties["comment"] = comment
    return {
        "type": "track",
        "event": "Survey Responded",
        "userId": user,
        "messageId": str(uuid.uuid4()),
        "properties": properties,
        "context": {"groupId": account},
    }


def send(server: RunningServer, project: Project, *events: dict[str, Any]) -> None:
    with server.client(headers=project.basic_auth) as client:
        answer = client.post("/v1/batch", json={"batch": list(events)})
    assert answer.status_code == 200 and answer.json()["accepted"] == len(events), answer.text


def wait_until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s; last value {value!r}")
        time.sleep(0.1)


def all_alerts(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/v1/alerts", params={"limit": 1000, **params})
    assert answer.status_code == 200, answer.text
    alerts: list[dict[str, Any]] = answer.json()["alerts"]
    return alerts


def alert_for(client: httpx.Client, response_id: str) -> dict[str, Any] | None:
    found = [a for a in all_alerts(client) if a["response_id"] == response_id]
    assert len(found) <= 1, found  # never two alerts for one response
    return found[0] if found else None


def create_hook(
    client: httpx.Client, receiver: Receiver, name: str, events: list[str], **script: Any
) -> dict[str, Any]:
    answer = client.post("/v1/webhooks", json={"url": receiver.url(name), "events": events})
    assert answer.status_code == 201, answer.text
    webhook: dict[str, Any] = answer.json()
    receiver.expect(name, webhook["secret"], **script)
    return webhook


def of_type(event_type: str, response_id: str | None = None) -> Callable[[Received], bool]:
    def matches(request: Received) -> bool:
        body = request.json
        return body["type"] == event_type and (
            response_id is None or body["data"]["alert"]["response_id"] == response_id
        )

    return matches


def test_detractors_open_one_alert_each_worked_through_the_api_with_signed_webhooks(
    server: RunningServer, project: Project, receiver: Receiver
) -> None:
    suffix = uuid.uuid4().hex[:8]
    with api(server, project) as client:
        webhook = create_hook(client, receiver, "cs", ["alert.opened", "alert.updated"])
        assert webhook["secret"].startswith("whsec_") and webhook["id"].startswith("whk_")
        assert "secret" not in client.get(f"/v1/webhooks/{webhook['id']}").json()

        nps = f"nps_{suffix}"
        send(server, project, rating(nps, "nps", 3, partial=True, account="acct_slow"))
        first = wait_until(lambda: alert_for(client, nps))
        assert (first["status"], first["comment"], first["score"]) == ("open", None, 3.0)
        # The completing event, projected in a later batch: same alert, comment filled in.
        send(server, project, rating(nps, "nps", 3, comment="导出太慢", account="acct_slow"))

        detractors = {
            f"csat_{suffix}": [rating(f"csat_{suffix}", "csat", 2, partial=True),
                               rating(f"csat_{suffix}", "csat", 2, comment="slow")],
            f"ces_{suffix}": [rating(f"ces_{suffix}", "ces", 6, survey_id="srv_effort")],
            f"thumbs_{suffix}": [rating(f"thumbs_{suffix}", "thumbs", 0)],
            f"emoji_{suffix}": [rating(f"emoji_{suffix}", "emoji", 1, comment="😞")],
        }  # fmt: skip
        promoters = [
            rating(f"p_{kind}_{suffix}", kind, score)
            for kind, score in (("nps", 10), ("csat", 5), ("ces", 2), ("thumbs", 1), ("emoji", 5))
        ]
        send(server, project, *[e for events in detractors.values() for e in events], *promoters)
        expected = {nps, *detractors}

        def settled() -> list[dict[str, Any]] | None:
            alerts = [a for a in all_alerts(client) if a["response_id"].endswith(suffix)]
            ready = {a["response_id"] for a in alerts} == expected and any(
                a["response_id"] == nps and a["comment"] == "导出太慢" for a in alerts
            )
            return alerts if ready else None

        # Promoters went through the same pipeline: once the last batch is projected, they
        # are in the responses but opened nothing.
        alerts = wait_until(settled)
        responses = client.get("/v1/responses", params={"limit": 1000}).json()["responses"]
        assert {r["response_id"] for r in responses} >= {
            p["properties"]["response_id"] for p in promoters
        }
        assert len(alerts) == len(expected)
        by_response = {a["response_id"]: a for a in alerts}
        assert by_response[f"csat_{suffix}"]["comment"] == "slow"
        assert by_response[f"ces_{suffix}"]["survey_id"] == "srv_effort"
        assert by_response[nps]["account_id"] == "acct_slow"
        assert by_response[nps]["id"] == first["id"]

        # Filters.
        assert [a["response_id"] for a in all_alerts(client, kind="ces")] == [f"ces_{suffix}"]
        assert {a["response_id"] for a in all_alerts(client, account_id="acct_slow")} == {nps}
        assert [a["response_id"] for a in all_alerts(client, survey_id="srv_effort")] == [
            f"ces_{suffix}"
        ]

        # Work the NPS alert: acknowledge and assign, resolve, note.
        alert_id = first["id"]
        acked = client.patch(
            f"/v1/alerts/{alert_id}", json={"status": "acknowledged", "assignee": "li.wei"}
        )
        assert acked.status_code == 200, acked.text
        assert (acked.json()["status"], acked.json()["assignee"]) == ("acknowledged", "li.wei")
        assert acked.json()["resolved_at"] is None
        assert [a["id"] for a in all_alerts(client, assignee="li.wei")] == [alert_id]
        assert alert_id in [a["id"] for a in all_alerts(client, status="acknowledged")]

        resolved = client.patch(f"/v1/alerts/{alert_id}", json={"status": "resolved"}).json()
        assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
        assert resolved["assignee"] == "li.wei"  # untouched fields kept
        again = client.patch(f"/v1/alerts/{alert_id}", json={"status": "resolved"}).json()
        assert again["resolved_at"] == resolved["resolved_at"]  # no change, no new time

        noted = client.post(
            f"/v1/alerts/{alert_id}/notes",
            json={"author": "li.wei", "text": "Called them: export fix ships Friday."},
        )
        assert noted.status_code == 201, noted.text
        (note,) = noted.json()["notes"]
        # A name typed with the secret key is kept, marked as given through the key.
        via_key = f"li.wei (via secret key {project.secret_key[:11]}…)"
        assert (note["author"], note["text"]) == (via_key, "Called them: export fix ships Friday.")
        assert (note["author_kind"], note["author_id"]) == ("secret_key", None)
        assert note["at"].endswith("Z")

        reopened = client.patch(f"/v1/alerts/{alert_id}", json={"status": "open", "assignee": None})
        body = reopened.json()
        assert (body["status"], body["assignee"], body["resolved_at"]) == ("open", None, None)
        assert client.get(f"/v1/alerts/{alert_id}").json()["notes"] == [note]

    # alert.opened once per detractor response, every signature valid.
    for response_id in expected:
        receiver.wait_for("cs", 1, predicate=of_type("alert.opened", response_id))
    receiver.wait_for("cs", 5, predicate=of_type("alert.updated", nps))
    time.sleep(0.5)  # anything sent twice would have arrived by now
    # Deliveries may arrive in any order; the alert's updated_at orders the changes.
    updates = sorted(
        (r for r in receiver.requests("cs") if of_type("alert.updated", nps)(r)),
        key=lambda r: datetime.fromisoformat(r.json["data"]["alert"]["updated_at"]),
    )
    received = [
        r
        for r in receiver.requests("cs")
        if r.json["data"]["alert"]["response_id"].endswith(suffix)
    ]
    assert all(r.signature_ok for r in received), [r.signature_error for r in received]
    opened = [
        r.json["data"]["alert"]["response_id"] for r in received if r.json["type"] == "alert.opened"
    ]
    assert sorted(opened) == sorted(expected)
    assert len({r.headers["cxloop-event-id"] for r in received}) == len(received)
    changes = [r.json["data"]["changed"] for r in updates]
    assert changes == [["comment"], ["status", "assignee"], ["status"], ["notes"],
                       ["status", "assignee"]]  # fmt: skip
    assert updates[0].json["data"]["alert"]["comment"] == "导出太慢"
    assert updates[-1].json["data"]["alert"]["notes"][0]["author"].startswith("li.wei (via ")

    # The delivery log shows each of them, one successful attempt each. The worker records an
    # attempt after the receiver has answered, so a delivery may still read pending for a moment.
    deadline = time.monotonic() + 15
    with api(server, project) as client:
        while True:
            log = client.get(
                f"/v1/webhooks/{webhook['id']}/deliveries", params={"limit": 200}
            ).json()
            mine = [
                d for d in log["deliveries"] if d["data"]["alert"]["response_id"].endswith(suffix)
            ]
            if all(d["status"] != "pending" for d in mine) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert len(mine) == len(received)
    for delivery in mine:
        assert delivery["status"] == "succeeded"
        (attempt,) = delivery["attempts"]
        assert attempt["status_code"] == 200 and attempt["error"] is None
        assert attempt["duration_ms"] >= 0 and attempt["attempted_at"]


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    server: RunningServer, project: Project, receiver: Receiver
) -> None:
    with api(server, project) as client:
        webhook = create_hook(client, receiver, "flaky", ["ping"], script=[500, 500])
        queued = client.post(f"/v1/webhooks/{webhook['id']}/test")
        assert queued.status_code == 202, queued.text
        assert queued.json()["event_type"] == "ping" and queued.json()["status"] == "pending"

        def delivered() -> dict[str, Any] | None:
            log = client.get(f"/v1/webhooks/{webhook['id']}/deliveries").json()["deliveries"]
            return log[0] if log and log[0]["status"] == "succeeded" else None

        delivery = wait_until(delivered)
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3]
    requests = receiver.requests("flaky")
    assert [r.answered for r in requests] == [500, 500, 200]
    assert all(r.signature_ok for r in requests)
    assert requests[-1].json["data"]["webhook_id"] == webhook["id"]
    assert requests[-1].json["id"] == delivery["event_id"]


def test_deleting_a_webhook_stops_its_deliveries(
    server: RunningServer, project: Project, receiver: Receiver
) -> None:
    response_id = f"del_{uuid.uuid4().hex[:8]}"
    with api(server, project) as client:
        kept = create_hook(client, receiver, "kept", ["alert.opened"])
        dropped = create_hook(client, receiver, "dropped", ["alert.opened"])
        assert client.delete(f"/v1/webhooks/{dropped['id']}").status_code == 204
        assert client.get(f"/v1/webhooks/{dropped['id']}").status_code == 404
        assert client.get(f"/v1/webhooks/{dropped['id']}/deliveries").status_code == 404
        assert dropped["id"] not in [w["id"] for w in client.get("/v1/webhooks").json()["webhooks"]]
        send(server, project, rating(response_id, "thumbs", 0))
        # The webhook still subscribed receives the alert: the event did go out.
        receiver.wait_for("kept", 1, predicate=of_type("alert.opened", response_id))
        time.sleep(0.3)
        assert receiver.requests("dropped") == []
        assert client.delete(f"/v1/webhooks/{kept['id']}").status_code == 204


def test_invalid_requests_say_what_to_fix(server: RunningServer, project: Project) -> None:
    with api(server, project) as client:
        for body, fragment in [
            ({"url": "ftp://x.io/", "events": ["ping"]}, "https://"),
            ({"url": "https://x.io/", "events": ["alert.closed"]}, "'alert.closed'"),
            ({"url": "https://x.io/", "events": []}, "events"),
            ({"url": "https://x.io/", "events": ["ping"], "secret": "mine"}, "secret"),
            ({"events": ["ping"]}, "url"),
        ]:
            answer = client.post("/v1/webhooks", json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert answer.json()["code"] in ("invalid_webhook", "invalid_request")
            assert fragment in answer.json()["message"], (body, answer.json())

        for body, fragment in [
            ({}, "nothing to change"),
            ({"status": "closed"}, "status"),
            ({"assignee": ""}, "assignee"),
            ({"assignee": "  "}, "blank"),
            ({"priority": "high"}, "priority"),
        ]:
            answer = client.patch("/v1/alerts/1", json=body)
            assert answer.status_code == 400, (body, answer.text)
            assert fragment in answer.json()["message"], (body, answer.json())
        note = client.post("/v1/alerts/1/notes", json={"author": "x"})
        assert note.status_code == 400 and "text" in note.json()["message"]

        missing = client.get("/v1/alerts/999999999")
        assert missing.status_code == 404 and missing.json()["code"] == "alert_not_found"
        assert (
            client.get("/v1/alerts", params={"cursor": "nope!"}).json()["code"] == "invalid_cursor"
        )
        assert client.get("/v1/alerts", params={"status": "closed"}).status_code == 400
        assert client.get("/v1/webhooks/whk_none").json()["code"] == "webhook_not_found"


def test_alerts_page_newest_first(server: RunningServer, project: Project) -> None:
    suffix = uuid.uuid4().hex[:8]
    ids = [f"page{i}_{suffix}" for i in range(5)]
    with api(server, project) as client:
        for response_id in ids:  # separate batches: distinct opening times
            send(server, project, rating(response_id, "nps", 0, account=f"acct_{suffix}"))
            wait_until(lambda response_id=response_id: alert_for(client, response_id))
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, "account_id": f"acct_{suffix}"}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/alerts", params=params).json()
            assert len(page["alerts"]) <= 2
            seen += [a["response_id"] for a in page["alerts"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == list(reversed(ids))


def test_every_private_route_refuses_another_projects_key(
    server: RunningServer, project: Project, other_project: Project, receiver: Receiver
) -> None:
    response_id = f"iso_{uuid.uuid4().hex[:8]}"
    with api(server, project) as client:
        webhook = create_hook(client, receiver, "isolated", ["ping"])
        send(server, project, rating(response_id, "csat", 1))
        alert = wait_until(lambda: alert_for(client, response_id))
    alert_path, hook_path = f"/v1/alerts/{alert['id']}", f"/v1/webhooks/{webhook['id']}"
    routes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", alert_path, None),
        ("PATCH", alert_path, {"status": "resolved"}),
        ("POST", f"{alert_path}/notes", {"author": "mallory", "text": "mine now"}),
        ("GET", hook_path, None),
        ("POST", f"{hook_path}/test", None),
        ("GET", f"{hook_path}/deliveries", None),
        ("DELETE", hook_path, None),
    ]
    with api(server, other_project) as other, server.client() as anonymous:
        for method, path, body in routes:
            answer = other.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
        assert alert["id"] not in [a["id"] for a in all_alerts(other)]
        assert webhook["id"] not in [w["id"] for w in other.get("/v1/webhooks").json()["webhooks"]]
        for method, path, body in [*routes, ("GET", "/v1/alerts", None), ("GET", "/v1/webhooks", None),
                                   ("POST", "/v1/webhooks", {"url": "https://x.io", "events": ["ping"]})]:  # fmt: skip
            answer = anonymous.request(method, path, json=body)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["code"] == "missing_secret_key"
    with api(server, project) as client:
        # Untouched by the other project's attempts.
        assert client.get(alert_path).json() == alert
        assert client.get(hook_path).status_code == 200
        assert client.get(f"{hook_path}/deliveries").json()["deliveries"] == []


def test_words_open_alerts_whatever_the_score_and_the_webhooks_say_why(
    server: RunningServer, project: Project, receiver: Receiver
) -> None:
    suffix = uuid.uuid4().hex[:8]
    leaving, both, happy = f"leaving_{suffix}", f"both_{suffix}", f"happy_{suffix}"
    with api(server, project) as client:
        create_hook(client, receiver, f"words_{suffix}", ["alert.opened", "alert.updated"])
        send(
            server,
            project,
            rating(leaving, "nps", 8, comment="导出太慢了，我们正在考虑换别的工具"),
            rating(both, "nps", 2, comment="太慢了，我们准备不续费了"),
            rating(happy, "nps", 10, comment="非常好用"),
        )

        def reasons() -> dict[str, list[str]] | None:
            found = {a["response_id"]: a for a in all_alerts(client)}
            done = leaving in found and both in found and found[both]["analysis"] is not None
            return {r: found[r]["reasons"] for r in (leaving, both)} if done else None

        # The passive 8 who says it is leaving gets an alert; the detractor who says so gets
        # one alert with both reasons; the happy promoter gets none.
        assert wait_until(reasons) == {
            leaving: ["churn_intent"],
            both: ["detractor", "churn_intent"],
        }
        assert alert_for(client, happy) is None
        churn = {a["response_id"] for a in all_alerts(client, reason="churn_intent")}
        assert {both, leaving} <= churn and happy not in churn
        assert both in {a["response_id"] for a in all_alerts(client, reason="detractor")}
        assert leaving not in {a["response_id"] for a in all_alerts(client, reason="detractor")}
        assert alert_for(client, leaving)["analysis"]["churn_intent"] is True  # type: ignore[index]

    opened = receiver.wait_for(f"words_{suffix}", 1, predicate=of_type("alert.opened", leaving))
    alert = opened[0].json["data"]["alert"]
    assert alert["reasons"] == ["churn_intent"] and alert["score"] == 8
    assert alert["analysis"]["sentiment"] == "negative"
    assert "integration_import_export" in alert["analysis"]["topics"]
    # The detractor's alert was opened by the projection and updated by the analysis.
    updated = receiver.wait_for(f"words_{suffix}", 1, predicate=of_type("alert.updated", both))
    assert "reasons" in updated[-1].json["data"]["changed"]
    assert updated[-1].json["data"]["alert"]["reasons"] == ["detractor", "churn_intent"]
