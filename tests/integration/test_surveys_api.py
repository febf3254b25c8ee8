"""Surveys through the private API, the SDK config the browser reads, and responses."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.helpers.server import Project, RunningServer

NPS: dict[str, Any] = {
    "name": "Reports NPS",
    "kind": "nps",
    "question": {
        "en": "How likely are you to recommend Reports?",
        "zh-CN": "您向同事推荐报表的可能性有多大？",
    },
    "follow_up": {
        "default": {"en": "Why?"},
        "detractor": {"en": "What should we fix first?", "zh-CN": "我们应该先改进什么？"},
    },
    "feature": "reports",
    "trigger": {"event": "Report Exported", "url": "/app/reports*", "min_page_views": 2},
    "filters": {"account": [{"trait": "plan", "op": "in", "value": ["pro", "enterprise"]}]},
    "sample_percent": 50,
    "frequency": {"mode": "recurring", "every_days": 90},
}


def api(server: RunningServer, project: Project) -> httpx.Client:
    return server.client(headers=project.bearer)


def test_create_read_list_update_activate_pause_delete(
    server: RunningServer, project: Project
) -> None:
    with api(server, project) as client:
        created = client.post("/v1/surveys", json=NPS)
        assert created.status_code == 201, created.text
        survey = created.json()
        assert survey["id"].startswith("srv_") and survey["status"] == "draft"
        assert survey["question"]["zh-CN"] == NPS["question"]["zh-CN"]
        assert survey["placement"] == "popover"  # default filled in
        sid = survey["id"]

        assert client.get(f"/v1/surveys/{sid}").json()["trigger"]["min_page_views"] == 2
        assert sid in [s["id"] for s in client.get("/v1/surveys").json()["surveys"]]
        assert client.get("/v1/surveys", params={"status": "active"}).json()["surveys"] == []

        patched = client.patch(f"/v1/surveys/{sid}", json={"sample_percent": 100, "name": "NPS 2"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["sample_percent"] == 100 and patched.json()["name"] == "NPS 2"
        assert patched.json()["trigger"]["event"] == "Report Exported"  # untouched fields kept

        assert client.post(f"/v1/surveys/{sid}/activate").json()["status"] == "active"
        assert [
            s["id"]
            for s in client.get("/v1/surveys", params={"status": "active"}).json()["surveys"]
        ] == [sid]
        assert client.post(f"/v1/surveys/{sid}/pause").json()["status"] == "paused"

        replaced = client.put(f"/v1/surveys/{sid}", json={**NPS, "kind": "csat", "name": "CSAT"})
        assert replaced.json()["kind"] == "csat" and replaced.json()["status"] == "paused"

        assert client.delete(f"/v1/surveys/{sid}").status_code == 204
        missing = client.get(f"/v1/surveys/{sid}")
        assert missing.status_code == 404 and missing.json()["code"] == "survey_not_found"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"kind": "stars"}, "kind"),
        ({"question": {}}, "question needs at least one text"),
        ({"question": {"fr": "Bonjour"}}, "locale 'fr' is not supported"),
        ({"question": {"en": "x" * 501}}, "at most 500"),
        ({"sample_percent": 101}, "sample_percent must be from 0 to 100"),
        ({"frequency": {"mode": "recurring"}}, "every_days must be from 1 to 3650"),
        ({"frequency": {"mode": "once", "every_days": 3}}, "only applies to mode 'recurring'"),
        ({"placement": "inline"}, "needs inline_selector"),
        ({"filters": {"user": [{"trait": "seats", "op": "gt", "value": "ten"}]}}, "needs a number"),
        ({"filters": {"user": [{"trait": "plan", "op": "in", "value": "pro"}]}}, "needs a list"),
        ({"trigger": {"url": "/a b"}}, "path glob without spaces"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_definitions_say_what_to_fix(
    server: RunningServer, project: Project, change: dict[str, Any], fragment: str
) -> None:
    with api(server, project) as client:
        response = client.post("/v1/surveys", json={**NPS, **change})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] in ("invalid_survey", "invalid_request")
    assert fragment in body["message"], body


def test_the_private_api_needs_the_secret_key_of_the_right_project(
    server: RunningServer, project: Project, other_project: Project
) -> None:
    with api(server, project) as client:
        sid = client.post("/v1/surveys", json=NPS).json()["id"]
    with server.client() as anonymous:
        assert anonymous.get("/v1/surveys").json()["code"] == "missing_secret_key"
        wrong = anonymous.get(
            "/v1/surveys", headers={"Authorization": f"Bearer {project.write_key}"}
        )
        assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_secret_key"
    with api(server, other_project) as other:
        assert other.get(f"/v1/surveys/{sid}").status_code == 404
        assert other.post(f"/v1/surveys/{sid}/activate").status_code == 404
        assert other.delete(f"/v1/surveys/{sid}").status_code == 404
        assert sid not in [s["id"] for s in other.get("/v1/surveys").json()["surveys"]]
        assert other.get("/v1/responses").json()["responses"] == []


def test_sdk_config_lists_active_surveys_with_an_etag(
    server: RunningServer, project: Project, other_project: Project
) -> None:
    with api(server, other_project) as client:
        sid = client.post("/v1/surveys", json={**NPS, "name": "config test"}).json()["id"]
        client.post(f"/v1/surveys/{sid}/activate")
    with server.client() as browser:
        response = browser.get("/v1/sdk/config", params={"writeKey": other_project.write_key})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        config = response.json()
        assert config["cooldown_days"] == 14 and config["snooze_days"] == 3
        (survey,) = [s for s in config["surveys"] if s["id"] == sid]
        assert "name" not in survey and "status" not in survey
        assert survey["trigger"]["url"] == "/app/reports*" and survey["sample_percent"] == 50
        etag = response.headers["etag"]
        again = browser.get(
            "/v1/sdk/config",
            params={"writeKey": other_project.write_key},
            headers={"If-None-Match": etag},
        )
        assert again.status_code == 304
        # The other project's config does not show it.
        theirs = browser.get("/v1/sdk/config", params={"writeKey": project.write_key}).json()
        assert sid not in [s["id"] for s in theirs["surveys"]]
        bad = browser.get("/v1/sdk/config", params={"writeKey": "nope"})
        assert bad.status_code == 401 and bad.json()["code"] == "invalid_write_key"
    with api(server, other_project) as client:
        client.post(f"/v1/surveys/{sid}/pause")
    with server.client() as browser:
        after = browser.get("/v1/sdk/config", params={"writeKey": other_project.write_key})
        assert sid not in [s["id"] for s in after.json()["surveys"]]
        assert after.headers["etag"] != etag


def _respond(
    server: RunningServer,
    project: Project,
    survey_id: str,
    *,
    account: str,
    score: float,
    kind: str = "nps",
    comment: str | None = None,
    user: str = "u1",
) -> str:
    response_id = f"r_{uuid.uuid4().hex[:12]}"
    properties: dict[str, Any] = {
        "survey_id": survey_id,
        "response_id": response_id,
        "kind": kind,
        "score": score,
        "partial": comment is None,
    }
    if comment is not None:
        properties["comment"] = comment
    event = {
        "type": "track",
        "event": "Survey Responded",
        "userId": user,
        "messageId": str(uuid.uuid4()),
        "properties": properties,
        "context": {"groupId": account},
    }
    with server.client(headers=project.basic_auth) as client:
        assert client.post("/v1/batch", json={"batch": [event]}).json()["accepted"] == 1
    return response_id


def _wait_responses(
    client: httpx.Client, expected: set[str], **params: Any
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = client.get("/v1/responses", params={"limit": 1000, **params}).json()["responses"]
        if expected <= {r["response_id"] for r in rows}:
            return rows
        time.sleep(0.3)
    raise AssertionError(f"responses {expected} never became queryable")


def test_account_cap_leaves_a_survey_out_for_that_account_only(
    server: RunningServer, project: Project
) -> None:
    capped = {**NPS, "name": "capped", "account_cap": {"max_responses": 2, "period_days": 30}}
    with api(server, project) as client:
        sid = client.post("/v1/surveys", json=capped).json()["id"]
        client.post(f"/v1/surveys/{sid}/activate")
        ids = {
            _respond(server, project, sid, account="acct_full", score=9, comment="ok"),
            _respond(server, project, sid, account="acct_full", score=3, comment="slow", user="u2"),
        }
        _wait_responses(client, ids, survey_id=sid)

    def listed(group: str | None) -> bool:
        params = {"writeKey": project.write_key} | ({"groupId": group} if group else {})
        with server.client() as browser:
            surveys = browser.get("/v1/sdk/config", params=params).json()["surveys"]
        return sid in [s["id"] for s in surveys]

    assert not listed("acct_full")
    assert listed("acct_other")
    assert listed(None)


def test_responses_are_filtered_paged_and_exactly_once(
    server: RunningServer, project: Project
) -> None:
    with api(server, project) as client:
        sid = client.post("/v1/surveys", json={**NPS, "name": "responses"}).json()["id"]
        partial_then_complete = _respond(server, project, sid, account="acct_r", score=4)
        # The completing event of the same response: one row, with the comment.
        with server.client(headers=project.basic_auth) as ingest:
            ingest.post(
                "/v1/track",
                json={
                    "event": "Survey Responded",
                    "userId": "u1",
                    "messageId": str(uuid.uuid4()),
                    "properties": {
                        "survey_id": sid,
                        "response_id": partial_then_complete,
                        "kind": "nps",
                        "score": 4,
                        "comment": "导出太慢 <b>slow</b>",
                        "partial": False,
                    },
                    "context": {"groupId": "acct_r"},
                },
            )
        others = {
            _respond(
                server, project, sid, account="acct_r", score=10, comment="great", user=f"p{i}"
            )
            for i in range(5)
        }
        rows = _wait_responses(client, others | {partial_then_complete}, survey_id=sid)
        mine = [r for r in rows if r["response_id"] == partial_then_complete]
        deadline = time.monotonic() + 30
        while mine and mine[0]["partial"] and time.monotonic() < deadline:
            time.sleep(0.3)
            rows = _wait_responses(client, others, survey_id=sid)
            mine = [r for r in rows if r["response_id"] == partial_then_complete]
        assert len(mine) == 1 and mine[0]["comment"] == "导出太慢 <b>slow</b>"
        assert not mine[0]["partial"]

        low = client.get("/v1/responses", params={"survey_id": sid, "max_score": 6}).json()
        assert [r["response_id"] for r in low["responses"]] == [partial_then_complete]
        commented = client.get(
            "/v1/responses",
            params={"survey_id": sid, "has_comment": "true", "account_id": "acct_r"},
        ).json()["responses"]
        assert len(commented) == 6

        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"survey_id": sid, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/responses", params=params).json()
            seen += [r["response_id"] for r in page["responses"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(others | {partial_then_complete})
        assert (
            client.get("/v1/responses", params={"cursor": "garbage!"}).json()["code"]
            == "invalid_cursor"
        )


def test_the_demo_app_is_served_with_its_key_and_host(server: RunningServer) -> None:
    import json

    (server.data_dir / "state" / "demo.json").write_text(json.dumps({"write_key": "wk_demo_x"}))
    with server.client() as browser:
        moved = browser.get("/demo")
        assert moved.status_code == 308 and moved.headers["location"].endswith("/demo/")
        page = browser.get("/demo/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        # Same-origin unless CXLOOP_PUBLIC_URL is set: the Host header is never written in.
        assert "wk_demo_x" in page.text and server.url not in page.text
        assert "__CXLOOP_WRITE_KEY__" not in page.text and "__CXLOOP_HOST__" not in page.text
        assert browser.get("/demo/../pyproject.toml").status_code == 404
        assert browser.get("/demo/%2e%2e/pyproject.toml").status_code == 404
