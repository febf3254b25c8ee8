"""Alerts opened by the projection, against a real PostgreSQL: once per response, any order."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import pytest

from cxloop.alerts import open_comment_alerts
from cxloop.alerts.store import list_alerts, update_alert
from cxloop.projection import project_events
from cxloop.projects.service import create_project
from cxloop.surveys.ratings import KINDS, segment_of
from cxloop.webhooks.store import create_webhook
from tests.helpers.events import BASE_US, survey, table


@pytest.fixture
async def project_id(conn: asyncpg.Connection) -> str:
    project = await create_project(conn, "acme")
    await create_webhook(
        conn, project.id, "https://hooks.example.com/all", ["alert.opened", "alert.updated"]
    )
    return project.id


async def alerts(conn: asyncpg.Connection, project_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT response_id, kind, score, comment, status, resolved_at, notes::text AS notes "
        "FROM alerts WHERE project_id = $1 ORDER BY response_id",
        project_id,
    )
    return [{**dict(r), "notes": msgspec.json.decode(r["notes"])} for r in rows]


async def deliveries(conn: asyncpg.Connection, project_id: str) -> list[tuple[str, Any]]:
    rows = await conn.fetch(
        "SELECT event_type, payload::text AS payload FROM webhook_deliveries "
        "WHERE project_id = $1 ORDER BY id",
        project_id,
    )
    return [(r["event_type"], msgspec.json.decode(r["payload"])) for r in rows]


async def test_the_sql_segments_match_segment_of(conn: asyncpg.Connection) -> None:
    scores = [x / 2 for x in range(-2, 23)]
    pairs = [(kind, score) for kind in KINDS for score in scores]
    rows = await conn.fetch(
        "SELECT k, s, cxloop_survey_segment(k, s) AS segment "
        "FROM unnest($1::text[], $2::float8[]) AS t(k, s)",
        [k for k, _ in pairs],
        [s for _, s in pairs],
    )
    assert len(rows) == len(pairs)
    for row in rows:
        assert row["segment"] == segment_of(row["k"], row["s"]), (row["k"], row["s"])
    assert await conn.fetchval("SELECT cxloop_survey_segment('nps', NULL)") is None


def events(project_id: str) -> dict[str, tuple[Any, ...]]:
    return {
        "partial": survey("m_p", "r1", score=3, partial=True, at=BASE_US, project_id=project_id),
        "complete": survey(
            "m_c", "r1", score=3, comment="导出太慢", at=BASE_US + 7_000_000, project_id=project_id
        ),
    }


@pytest.mark.parametrize(
    ("batches", "changed"),
    [
        ([["partial"], ["complete"]], ["comment"]),
        # The partial event is the earlier one: the response (and alert) began then.
        ([["complete"], ["partial"]], ["responded_at"]),
        ([["partial", "complete"]], None),
        ([["complete", "partial"], ["partial"], ["complete"], ["partial", "complete"]], None),
    ],
    ids=["partial-then-complete", "complete-then-partial", "one-batch", "with-replays"],
)
async def test_one_alert_per_response_with_the_comment_whatever_the_order(
    conn: asyncpg.Connection, project_id: str, batches: list[list[str]], changed: list[str] | None
) -> None:
    rows = events(project_id)
    for names in batches:
        await project_events(conn, table(*(rows[name] for name in names)))
    (alert,) = await alerts(conn, project_id)
    assert (alert["response_id"], alert["score"], alert["comment"], alert["status"]) == (
        "r1",
        3.0,
        "导出太慢",
        "open",
    )
    sent = await deliveries(conn, project_id)
    assert [event_type for event_type, _ in sent] == ["alert.opened"] + (
        ["alert.updated"] if changed else []
    )
    opened = sent[0][1]["alert"]
    assert opened["response_id"] == "r1" and opened["kind"] == "nps"
    if changed:
        assert sent[1][1]["changed"] == changed
        assert sent[1][1]["alert"]["comment"] == "导出太慢"
        assert opened["comment"] == (None if changed == ["comment"] else "导出太慢")
    # A replay of everything changes nothing and sends nothing.
    again = await project_events(conn, table(rows["partial"], rows["complete"]))
    assert again.alerts == 0 and again.responses == 0
    assert len(await deliveries(conn, project_id)) == len(sent)


async def test_every_kind_opens_alerts_for_detractors_only(
    conn: asyncpg.Connection, project_id: str
) -> None:
    low = {"nps": 6, "csat": 2, "ces": 5, "thumbs": 0, "emoji": 1}
    high = {"nps": 7, "csat": 3, "ces": 4, "thumbs": 1, "emoji": 3}
    rows = [
        survey(
            f"m_{kind}_{score}", f"{kind}_{score}", kind=kind, score=score, project_id=project_id
        )
        for kind in KINDS
        for score in (low[kind], high[kind])
    ]
    stats = await project_events(conn, table(*rows))
    assert stats.alerts == 5
    assert [(a["kind"], a["score"]) for a in await alerts(conn, project_id)] == sorted(
        (kind, float(score)) for kind, score in low.items()
    )


@pytest.mark.parametrize("order", ["low-first", "high-first", "one-batch"])
async def test_a_score_moved_out_of_the_detractor_range_resolves_an_untouched_alert(
    conn: asyncpg.Connection, project_id: str, order: str
) -> None:
    low = survey("m1", "r1", score=3, partial=True, at=BASE_US, project_id=project_id)
    high = survey("m2", "r1", score=9, comment="ok now", at=BASE_US + 5, project_id=project_id)
    batches = {
        "low-first": [[low], [high]],
        "high-first": [[high], [low]],
        "one-batch": [[low, high]],
    }
    for rows in batches[order]:
        await project_events(conn, table(*rows))
    # The same end state in every order: one alert, resolved, showing the final answer.
    (alert,) = await alerts(conn, project_id)
    assert (alert["score"], alert["comment"], alert["status"]) == (9.0, "ok now", "resolved")
    assert alert["resolved_at"] is not None
    (note,) = alert["notes"]
    assert note["author"] == "cxloop" and "now 9 (promoter)" in note["text"]
    await project_events(conn, table(low, high))  # replays do not add notes
    assert len((await alerts(conn, project_id))[0]["notes"]) == 1


async def test_an_acknowledged_alert_stays_with_its_owner_when_the_score_changes(
    conn: asyncpg.Connection, project_id: str
) -> None:
    await project_events(
        conn, table(survey("m1", "r1", score=2, kind="csat", partial=True, project_id=project_id))
    )
    alert_id = await conn.fetchval("SELECT id FROM alerts WHERE project_id = $1", project_id)
    await update_alert(conn, project_id, alert_id, status="acknowledged", assignee="li.wei")
    await project_events(
        conn, table(survey("m2", "r1", score=4, kind="csat", at=BASE_US + 9, project_id=project_id))
    )
    (alert,) = await alerts(conn, project_id)
    assert (alert["status"], alert["score"], alert["notes"]) == ("acknowledged", 4.0, [])
    sent = [event for event, _ in await deliveries(conn, project_id)]
    assert sent == ["alert.opened", "alert.updated", "alert.updated"]


async def test_no_alert_and_no_error_for_a_project_that_does_not_exist(
    conn: asyncpg.Connection,
) -> None:
    stats = await project_events(conn, table(survey("m1", "r1", score=0, project_id="prj_gone")))
    assert (stats.responses, stats.alerts) == (1, 0)
    assert await conn.fetchval("SELECT count(*) FROM alerts") == 0


async def test_deliveries_go_to_subscribed_webhooks_of_the_same_project_only(
    conn: asyncpg.Connection, project_id: str
) -> None:
    updates_only = await create_webhook(
        conn, project_id, "https://a.example.com/", ["alert.updated"]
    )
    other = await create_project(conn, "globex")
    theirs = await create_webhook(conn, other.id, "https://b.example.com/", ["alert.opened"])
    await project_events(conn, table(survey("m1", "r1", score=1, project_id=project_id)))
    rows = await conn.fetch("SELECT webhook_id, event_type FROM webhook_deliveries")
    assert [(r["event_type"]) for r in rows] == ["alert.opened"]
    assert rows[0]["webhook_id"] not in (updates_only.id, theirs.id)


# -- reasons: the comment's churn intent and competitors (cxloop.insights calls these) -------


async def reasons(conn: asyncpg.Connection, project_id: str) -> dict[str, tuple[str, list[str]]]:
    rows = await conn.fetch(
        "SELECT response_id, status, reasons FROM alerts WHERE project_id = $1", project_id
    )
    return {r["response_id"]: (r["status"], list(r["reasons"])) for r in rows}


async def analysed(
    conn: asyncpg.Connection, project_id: str, response_id: str, *, churn: bool, rivals: list[str]
) -> None:
    """What the comment analysis writes before it calls open_comment_alerts."""
    await conn.execute(
        "UPDATE survey_responses SET sentiment = 'negative', churn_intent = $3, "
        "competitors = $4, topics = ARRAY['performance'], analysis_version = 1 "
        "WHERE project_id = $1 AND response_id = $2",
        project_id,
        response_id,
        churn,
        rivals,
    )


async def test_churn_intent_opens_an_alert_whatever_the_score_and_detractor_joins_it(
    conn: asyncpg.Connection, project_id: str
) -> None:
    await project_events(
        conn,
        table(
            survey("m1", "passive", score=8, comment="考虑换别的工具", project_id=project_id),
            survey("m2", "low", score=2, comment="太慢, 要换 Notion", project_id=project_id),
            survey("m3", "happy", score=10, comment="很好用", project_id=project_id),
        ),
    )
    assert await reasons(conn, project_id) == {"low": ("open", ["detractor"])}
    for response_id, churn, rivals in [
        ("passive", True, []),
        ("low", True, ["Notion"]),
        ("happy", False, []),
    ]:
        await analysed(conn, project_id, response_id, churn=churn, rivals=rivals)
    changed = await open_comment_alerts(
        conn,
        project_id,
        ["passive", "low", "happy"],
        churn_intent=[True, True, False],
        competitor=[False, True, False],
    )
    assert changed == 2
    assert await reasons(conn, project_id) == {
        "passive": ("open", ["churn_intent"]),
        "low": ("open", ["detractor", "churn_intent", "competitor"]),
    }
    sent = await deliveries(conn, project_id)
    assert sent[0][0] == "alert.opened"  # the projection's, for the detractor
    assert sorted((e, d["alert"]["response_id"]) for e, d in sent[1:]) == [
        ("alert.opened", "passive"),
        ("alert.updated", "low"),
    ]
    opened = next(d["alert"] for e, d in sent[1:] if e == "alert.opened")
    assert opened["response_id"] == "passive" and opened["reasons"] == ["churn_intent"]
    assert opened["analysis"] == {
        "sentiment": "negative", "churn_intent": True, "competitors": [],
        "topics": ["performance"],
    }  # fmt: skip
    updated = next(d for e, d in sent if e == "alert.updated")
    assert updated["changed"] == ["reasons"]
    # A replay of the same analysis changes nothing and sends nothing.
    again = await open_comment_alerts(
        conn,
        project_id,
        ["passive", "low", "happy"],
        churn_intent=[True, True, False],
        competitor=[False, True, False],
    )
    assert again == 0 and len(await deliveries(conn, project_id)) == len(sent)
    # The API's filter by reason.
    by_reason = await list_alerts(conn, project_id, reason="churn_intent")
    assert sorted(r["response_id"] for r in by_reason) == ["low", "passive"]
    assert [r["response_id"] for r in await list_alerts(conn, project_id, reason="competitor")] == [
        "low"
    ]


async def test_a_lifted_score_drops_only_detractor_and_resolves_when_no_reason_is_left(
    conn: asyncpg.Connection, project_id: str
) -> None:
    low = survey("m1", "r1", score=3, comment="要换掉你们了", at=BASE_US, project_id=project_id)
    await project_events(conn, table(low))
    await analysed(conn, project_id, "r1", churn=True, rivals=[])
    await open_comment_alerts(conn, project_id, ["r1"], churn_intent=[True], competitor=[False])
    assert await reasons(conn, project_id) == {"r1": ("open", ["detractor", "churn_intent"])}
    # The score goes up: 'detractor' is dropped, churn intent keeps the alert open.
    high = survey("m2", "r1", score=8, at=BASE_US + 5, project_id=project_id)
    await project_events(conn, table(high))
    assert await reasons(conn, project_id) == {"r1": ("open", ["churn_intent"])}
    (alert,) = await alerts(conn, project_id)
    assert alert["notes"] == [] and alert["score"] == 8.0
    # The re-analysed comment has no churn intent any more: nothing is left, resolved.
    await open_comment_alerts(conn, project_id, ["r1"], churn_intent=[False], competitor=[False])
    assert await reasons(conn, project_id) == {"r1": ("resolved", [])}
    (alert,) = await alerts(conn, project_id)
    assert alert["resolved_at"] is not None
    assert alert["notes"][-1]["author"] == "cxloop"
    assert "no longer shows churn intent" in alert["notes"][-1]["text"]
    # A new reason reopens an alert cxloop resolved for want of one.
    await open_comment_alerts(conn, project_id, ["r1"], churn_intent=[False], competitor=[True])
    assert await reasons(conn, project_id) == {"r1": ("open", ["competitor"])}
    (alert,) = await alerts(conn, project_id)
    assert alert["resolved_at"] is None and "Reopened" in alert["notes"][-1]["text"]


async def test_a_score_lifted_before_the_analysis_does_not_lose_the_churn_alert(
    conn: asyncpg.Connection, project_id: str
) -> None:
    # The projection resolves the detractor alert first (no reason left then); the analysis of
    # the completing comment reopens it: the end state does not depend on which ran first.
    low = survey("m1", "r1", score=3, partial=True, at=BASE_US, project_id=project_id)
    high = survey(
        "m2", "r1", score=8, comment="准备不续费了", at=BASE_US + 5, project_id=project_id
    )
    await project_events(conn, table(low, high))
    assert await reasons(conn, project_id) == {"r1": ("resolved", [])}
    await analysed(conn, project_id, "r1", churn=True, rivals=[])
    await open_comment_alerts(conn, project_id, ["r1"], churn_intent=[True], competitor=[False])
    assert await reasons(conn, project_id) == {"r1": ("open", ["churn_intent"])}


async def test_an_alert_a_person_works_keeps_its_status_when_reasons_change(
    conn: asyncpg.Connection, project_id: str
) -> None:
    await project_events(
        conn, table(survey("m1", "r1", score=7, comment="换 Notion 吧", project_id=project_id))
    )
    await open_comment_alerts(conn, project_id, ["r1"], churn_intent=[True], competitor=[True])
    alert_id = await conn.fetchval("SELECT id FROM alerts WHERE project_id = $1", project_id)
    await update_alert(conn, project_id, alert_id, status="acknowledged", assignee="li.wei")
    await open_comment_alerts(conn, project_id, ["r1"], churn_intent=[False], competitor=[False])
    assert await reasons(conn, project_id) == {"r1": ("acknowledged", [])}
    await update_alert(conn, project_id, alert_id, status="resolved", assignee=msgspec.UNSET)
    # A person resolved it: a new reason records itself but does not reopen it.
    await open_comment_alerts(conn, project_id, ["r1"], churn_intent=[True], competitor=[False])
    assert await reasons(conn, project_id) == {"r1": ("resolved", ["churn_intent"])}


async def test_comment_alerts_only_for_projects_that_exist_and_their_own_responses(
    conn: asyncpg.Connection, project_id: str
) -> None:
    other = await create_project(conn, "globex")
    await project_events(
        conn,
        table(
            survey("m1", "r1", score=9, comment="x", project_id=project_id),
            survey("m2", "r1", score=9, comment="x", project_id=other.id),
            survey("m3", "r9", score=9, comment="x", project_id="prj_gone"),
        ),
    )
    await open_comment_alerts(conn, other.id, ["r1"], churn_intent=[True], competitor=[False])
    await open_comment_alerts(conn, "prj_gone", ["r9"], churn_intent=[True], competitor=[False])
    assert await reasons(conn, project_id) == {}
    assert await reasons(conn, other.id) == {"r1": ("open", ["churn_intent"])}
    assert await conn.fetchval("SELECT count(*) FROM alerts") == 1


@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1), (2, 1, 0), (1, 0, 2)])
async def test_a_score_back_in_the_detractor_range_reopens_what_cxloop_resolved(
    conn: asyncpg.Connection, project_id: str, order: tuple[int, ...]
) -> None:
    events = [
        survey("m1", "r1", score=3, partial=True, at=BASE_US, project_id=project_id),
        survey("m2", "r1", score=9, at=BASE_US + 5, project_id=project_id),
        survey("m3", "r1", score=2, comment="又坏了", at=BASE_US + 9, project_id=project_id),
    ]
    for index in order:
        await project_events(conn, table(events[index]))
    # The latest answer (2) is a detractor's, whatever order the events arrived in.
    assert await reasons(conn, project_id) == {"r1": ("open", ["detractor"])}
    (alert,) = await alerts(conn, project_id)
    assert alert["resolved_at"] is None and alert["score"] == 2.0
    if order == (0, 1, 2):  # resolved by the 9, reopened by the 2
        assert [n["text"].split(":")[0] for n in alert["notes"]] == [
            "Resolved automatically",
            "Reopened automatically",
        ]
