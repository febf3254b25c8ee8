"""Health reads the comments' words end to end: the pipeline analyses them, the refresh waits
for that, the feedback component counts them (worse of score and words, churn intent and
competitors in 90 days) and says so in the drivers; feedback_text off is the ratings alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.simulate import api as sim_api
from tests.helpers.server import Project, RunningServer

NOW = datetime.now(UTC).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _events(account: str, answers: list[tuple[int, str | None, int]]) -> list[dict[str, Any]]:
    user = f"usr_{account}"
    base = {"userId": user, "context": {"groupId": account}}
    events: list[dict[str, Any]] = [
        {**base, "type": "group", "groupId": account, "traits": {"name": account, "seats": 5},
         "messageId": str(uuid.uuid4()), "timestamp": _stamp(NOW - timedelta(days=150))},
    ]  # fmt: skip
    for day in range(0, 140, 2):  # ordinary, steady use
        events.append({**base, "type": "track", "event": "Report Created",
                       "properties": {"feature": "reports"}, "messageId": str(uuid.uuid4()),
                       "timestamp": _stamp(NOW - timedelta(days=day, hours=3))})  # fmt: skip
    for i, (score, comment, days_ago) in enumerate(answers):
        properties: dict[str, Any] = {"survey_id": "srv_nps", "response_id": f"{account}-{i}",
                                      "kind": "nps", "score": score, "partial": False}  # fmt: skip
        if comment is not None:
            properties["comment"] = comment
        events.append({**base, "type": "track", "event": "Survey Responded",
                       "properties": properties, "messageId": str(uuid.uuid4()),
                       "timestamp": _stamp(NOW - timedelta(days=days_ago, hours=1))})  # fmt: skip
    return events


def _feedback(client: Any, account: str) -> tuple[dict[str, Any], list[str]]:
    health = client.get(f"/v1/accounts/{account}").raise_for_status().json()["health"]
    part = next(c for c in health["components"] if c["name"] == "feedback")
    return part, health["drivers"]


def test_the_words_lower_feedback_and_are_said(server: RunningServer, project: Project) -> None:
    with server.client(headers=project.bearer) as client:
        client.put("/v1/insights/config", json={"competitors": ["DashHub"]}).raise_for_status()
    leaving = _events(
        "acct_leaving",
        [
            (8, "We will cancel our subscription at renewal.", 5),
            (8, "Not renewing next year, moving to DashHub.", 20),
            (9, "The export keeps timing out, very frustrating.", 40),
            (8, "我们正在考虑换别的工具，导出太慢了", 120),  # churn intent, but 120 days ago
            (8, None, 10),
        ],
    )
    happy = _events(
        "acct_happy",
        [
            (9, "Love the dashboards, great product!", 7),
            (8, "We are comparing you with DashHub.", 9),
        ],
    )
    events = leaving + happy
    with server.client(headers=project.basic_auth) as client:
        assert client.post("/v1/batch", json={"batch": events}).status_code == 200
    server.wait_for_lake({e["messageId"] for e in events}, project.id, timeout=60)
    sim_api.wait_for_responses(server.url, project.secret_key, 7, timeout=60)

    sim_api.put_feedback_text(server.url, project.secret_key, False)
    sim_api.refresh_health(server.url, project.secret_key)
    with server.client(headers=project.bearer) as client:
        before, _ = _feedback(client, "acct_leaving")
        happy_before, _ = _feedback(client, "acct_happy")
    assert "words" not in before["detail"] and before["normalised"] > 50  # polite 8s and a 9

    sim_api.put_feedback_text(server.url, project.secret_key, True)
    sim_api.refresh_health(server.url, project.secret_key)  # waits for the analysis
    with server.client(headers=project.bearer) as client:
        after, drivers = _feedback(client, "acct_leaving")
        happy_after, _ = _feedback(client, "acct_happy")
    words = after["detail"]["words"]
    assert words["comments"] == 4  # analysed comments of the 180 days
    assert words["negative"] == 4 and words["disagreeing"] == 4
    assert words["detractors"] == 4 and words["promoters"] == 0
    assert words["churn_intent_90d"] == 2  # the one 120 days ago is not counted
    assert words["competitors_90d"] == ["DashHub"]
    assert after["normalised"] == 0.0  # two comments say they are leaving
    feedback = next(d for d in drivers if "feedback" in d)
    assert "2 comments in the last 90 days say they are switching tools or not renewing" in (
        feedback
    )
    assert "competitors named in the last 90 days: DashHub" in feedback
    # Naming a competitor without leaving: at most neutral; praise stays praise.
    happy_words = happy_after["detail"]["words"]
    assert happy_words["competitor_comments_90d"] == 1 and happy_words["churn_intent_90d"] == 0
    assert happy_before["normalised"] > 50
    assert happy_after["normalised"] == 50.0


def test_another_project_sees_no_words(
    server: RunningServer, other_project: Project, project: Project
) -> None:
    sim_api.refresh_health(server.url, other_project.secret_key)
    with server.client(headers=other_project.bearer) as client:
        assert client.get("/v1/accounts/acct_leaving").status_code == 404
