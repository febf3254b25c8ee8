"""Ingest drops deleted subjects' events before the log; every other event is logged as sent."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.ingest import Limits, parse_batch, process_events
from cxloop.ingest.check import check_request
from cxloop.ingest.suppress import SUBJECT_DELETED, suppress_subjects
from cxloop.projects import SuppressionList, subject_digest
from tests.helpers.ingest_app import PROJECT_ID, WRITE_KEY, basic, ingest_app
from tests.unit.ingest.test_hostile_properties import (
    ADDRESSES,
    HOSTILE,
    batch_bodies,
    expanded,
    judged,
    reference,
)
from tests.unit.ingest.test_hostile_properties import LIMITS as HOSTILE_LIMITS

LIMITS = Limits(max_event_bytes=32 * 1024, max_batch_events=2500)


def suppressed(*subjects: tuple[str, str]) -> SuppressionList:
    suppressions = SuppressionList()
    suppressions.add(PROJECT_ID, [subject_digest(PROJECT_ID, kind, v) for kind, v in subjects])
    return suppressions


def track(message_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Clicked", "messageId": message_id, **fields}


async def test_a_batch_is_logged_without_the_subjects_events() -> None:
    ingest = ingest_app(
        suppressions=suppressed(("user", "gone"), ("anonymous", "anon-gone"), ("account", "acme"))
    )
    events = [
        track("m0", userId="kept", properties={"n": 1e400, "s": "é"}),
        track("m1", userId="gone"),
        track("m2", anonymousId="anon-gone"),
        track("m3", userId="kept", context={"groupId": "acme"}),
        {"type": "track", "messageId": "m4", "userId": "kept"},  # invalid: no event name
        {"type": "track", "messageId": "m5", "userId": "gone"},  # invalid, and the subject's
        track("m6", userId="other", context={"ip": "198.51.100.23"}),
    ]
    body = json.dumps({"batch": events, "sentAt": "2026-01-01T00:00:00Z"}).replace(
        '"n": Infinity', '"n": 1e400'
    )
    async with ingest.client() as client:
        answer = await client.post("/v1/batch", content=body, headers=basic(WRITE_KEY))
    assert answer.status_code == 200
    ack = answer.json()
    assert ack["accepted"] == 2
    assert [(r["index"], r["messageId"], r["reason"]) for r in ack["rejected"]] == [
        (1, "m1", SUBJECT_DELETED),
        (2, "m2", SUBJECT_DELETED),
        (3, "m3", SUBJECT_DELETED),
        (4, "m4", "missing_event"),
        (5, "m5", SUBJECT_DELETED),
    ]
    (record,) = ingest.writer.records
    assert record.events == 3 and record.accepted == 2
    logged = json.loads(record.body)
    assert [event["messageId"] for event in logged["batch"]] == ["m0", "m4", "m6"]
    assert logged["sentAt"] == "2026-01-01T00:00:00Z"
    assert b"1e400" in record.body  # a number beyond a double is kept as sent
    assert b"gone" not in record.body and b"acme" not in record.body
    assert b"198.51.100.0" in record.body  # still anonymised
    assert ingest.service.suppressed.values[()] == 4
    assert ingest.service.rejected.values.get((SUBJECT_DELETED,), 0) == 0


@pytest.mark.parametrize("route", ["track", "identify", "page"])
async def test_a_single_event_of_the_subject_is_not_logged(route: str) -> None:
    ingest = ingest_app(suppressions=suppressed(("user", "42")))
    event = {"event": "Clicked", "userId": 42, "messageId": "m-single"}
    async with ingest.client() as client:
        answer = await client.post(f"/v1/{route}", json=event, headers=basic(WRITE_KEY))
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 0
    assert [r["reason"] for r in answer.json()["rejected"]] == [SUBJECT_DELETED]
    assert ingest.writer.records == []


async def test_a_batch_of_only_the_subject_logs_nothing() -> None:
    ingest = ingest_app(suppressions=suppressed(("account", "acme")))
    body = {
        "batch": [track("a", userId="u"), track("b", userId="v")],
        "context": {"groupId": "acme"},
    }
    async with ingest.client() as client:
        answer = await client.post("/v1/batch", json=body, headers=basic(WRITE_KEY))
    ack = answer.json()
    assert ack["accepted"] == 0
    assert [(r["index"], r["messageId"], r["reason"]) for r in ack["rejected"]] == [
        (0, "a", SUBJECT_DELETED),
        (1, "b", SUBJECT_DELETED),
    ]
    assert "do not send it again" in ack["rejected"][0]["detail"]
    assert ingest.writer.records == []


async def test_other_projects_log_the_body_as_sent() -> None:
    ingest = ingest_app(suppressions=SuppressionList())
    ingest.service.suppressions.add("prj_other", [subject_digest("prj_other", "user", "u")])
    body = json.dumps({"batch": [track("a", userId="u")], "writeKey": WRITE_KEY}).encode()
    async with ingest.client() as client:
        answer = await client.post("/v1/batch", content=body)
    assert answer.json() == {"accepted": 1, "rejected": []}
    assert ingest.writer.records[0].body == body


_ids = st.sampled_from(["u1", "u2", "u3", "", None, 7])
_event = st.builds(
    lambda kind, user, anonymous, group, name: {
        k: v
        for k, v in {
            "type": kind,
            "event": name,
            "userId": user,
            "anonymousId": anonymous,
            "context": {"groupId": group} if group else None,
        }.items()
        if v is not None
    },
    st.sampled_from(["track", "identify", "page", "group", "bogus"]),
    _ids,
    _ids,
    st.sampled_from([None, "g1", "g2"]),
    st.sampled_from([None, "Clicked"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_event, min_size=1, max_size=8), st.sets(st.sampled_from(
    [("user", "u1"), ("user", "7"), ("anonymous", "u2"), ("account", "g1")]
)))  # fmt: skip
def test_the_verdict_matches_the_reference_on_the_rewritten_body(
    events: list[dict[str, Any]], subjects: set[tuple[str, str]]
) -> None:
    suppressions = suppressed(*subjects)
    body = msgspec.json.encode({"batch": events})
    checked = check_request(body, None, LIMITS)
    result = suppress_subjects(checked, PROJECT_ID, suppressions, LIMITS)
    named = [suppressions.matches_raw(PROJECT_ID, msgspec.json.encode(event)) for event in events]
    if result is None:
        assert not any(named)
        return
    assert [r.index for r in result.rejections] == [i for i, n in enumerate(named) if n]
    assert result.kept == [i for i, n in enumerate(named) if not n]
    accepted, rejected = result.verdict(PROJECT_ID, LIMITS)
    if result.checked is None:
        assert accepted == 0 and all(r.reason == SUBJECT_DELETED for r in rejected)
        return
    logged = msgspec.json.decode(result.checked.body)["batch"]
    assert logged == [events[i] for i in result.kept]
    reference = process_events(
        parse_batch(result.checked.body, LIMITS),
        project_id=PROJECT_ID,
        received_at_us=0,
        client_ip=None,
        limits=LIMITS,
    )
    assert accepted == reference.accepted
    assert [(r.index, r.reason) for r in rejected if r.reason != SUBJECT_DELETED] == [
        (result.kept[r.index], r.reason) for r in reference.rejected
    ]
    assert sorted(r.index for r in rejected) == [r.index for r in rejected]


# What a hostile visitor sends (tests/unit/ingest/test_hostile_properties.py), to a project
# with suppressions: the neighbour's userId "n1", and "x", "u" and "1" as any kind of id.
HOSTILE_SUBJECTS = [("user", "n1"), ("user", "u"), ("anonymous", "x"), ("account", "x"),
                    ("user", "1"), ("account", "u1")]  # fmt: skip


@HOSTILE
@given(batch_bodies)
def test_hostile_batches_of_a_project_with_suppressions(body: bytes) -> None:
    suppressions = SuppressionList()
    suppressions.add("p", [subject_digest("p", kind, value) for kind, value in HOSTILE_SUBJECTS])
    outcome = judged(body, None)
    if outcome is None:
        return
    checked, _, rejected_before = outcome
    result = suppress_subjects(checked, "p", suppressions, HOSTILE_LIMITS)
    if result is None:
        return
    accepted, rejected = result.verdict("p", HOSTILE_LIMITS)
    assert accepted + len(rejected) == checked.events
    deleted = {r.index for r in rejected if r.reason == SUBJECT_DELETED}
    assert deleted == {r.index for r in result.rejections} and deleted
    # An event not taken out keeps the verdict it had.
    before = {r.index: r.reason for r in rejected_before}
    assert {r.index: r.reason for r in rejected if r.index not in deleted} == {
        index: reason for index, reason in before.items() if index not in deleted
    }
    if result.checked is None:
        assert accepted == 0
        return
    assert (accepted, [(r.index, r.reason) for r in rejected if r.index not in deleted]) == (
        reference(result.checked.body, None)[0],
        [(result.kept[r.index], r.reason) for r in reference(result.checked.body, None)[1]],
    )
    rows = expanded(result.checked, accepted)
    assert len(rows) == len(result.kept)
    for row in rows:
        assert not suppressions.matches(
            "p", row["user_id"], row["anonymous_id"], row["group_id"], row["previous_id"]
        ), row
    assert not any(address in result.checked.body.decode() for address in ADDRESSES)
