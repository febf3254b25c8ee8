"""The PostgreSQL projection: what lands where, idempotence, order independence, isolation."""

from __future__ import annotations

import functools
import itertools
import secrets
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxloop.projection import project_events
from cxloop.projection.prepare import merge_responses, prepare_batch, to_datetime
from cxloop.projects.service import create_project
from cxloop.wal import WAL_SCHEMA
from tests.helpers.events import (
    BASE_US,
    SECOND_US,
    group,
    identify,
    survey,
    table,
    track,
)
from tests.unit.projection.hostile import hostile_rows

P = "prj_test"

# Hypothesis examples share one database per test; each example uses its own project id.
DB_EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


async def dump(conn: asyncpg.Connection, project_id: str | None = None) -> dict[str, list[Any]]:
    """Every projected row (optionally of one project), in a stable order."""
    queries = {
        "users": "SELECT * FROM users WHERE $1::text IS NULL OR project_id = $1 "
        "ORDER BY project_id, user_id",
        "accounts": "SELECT * FROM accounts WHERE $1::text IS NULL OR project_id = $1 "
        "ORDER BY project_id, account_id",
        "memberships": "SELECT * FROM memberships WHERE $1::text IS NULL OR project_id = $1 "
        "ORDER BY project_id, user_id, account_id",
        "survey_responses": "SELECT * FROM survey_responses "
        "WHERE $1::text IS NULL OR project_id = $1 ORDER BY project_id, response_id",
    }
    return {
        name: [tuple(row.items()) for row in await conn.fetch(sql, project_id)]
        for name, sql in queries.items()
    }


async def user(conn: asyncpg.Connection, user_id: str, project_id: str = P) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT traits::text, first_seen_at, last_seen_at, traits_updated_at FROM users "
        "WHERE project_id = $1 AND user_id = $2",
        project_id,
        user_id,
    )
    assert row is not None
    return row


def traits_of(row: asyncpg.Record) -> dict[str, Any]:
    return msgspec.json.decode(row["traits"])  # type: ignore[no-any-return]


async def response(conn: asyncpg.Connection, response_id: str, project_id: str = P) -> Any:
    return await conn.fetchrow(
        "SELECT * FROM survey_responses WHERE project_id = $1 AND response_id = $2",
        project_id,
        response_id,
    )


# -- what lands where --------------------------------------------------------------------------


async def test_identify_creates_users(conn: asyncpg.Connection) -> None:
    stats = await project_events(
        conn,
        table(
            identify("m1", "u1", {"email": "a@example.com", "plan": "pro"}, at=BASE_US),
            track("m2", "Report Viewed", {"feature": "reports"}, user_id="u1", at=BASE_US + 60),
            identify("m3", "u2", None, at=BASE_US + 5),
            track("m4", "Anonymous Thing", user_id=None, anonymous_id="a1"),
        ),
    )
    assert (stats.events, stats.users, stats.invalid) == (4, 2, 0)
    u1 = await user(conn, "u1")
    assert traits_of(u1) == {"email": "a@example.com", "plan": "pro"}
    assert u1["first_seen_at"] == to_datetime(BASE_US)
    assert u1["last_seen_at"] == to_datetime(BASE_US + 60)
    assert u1["traits_updated_at"] == to_datetime(BASE_US)
    u2 = await user(conn, "u2")
    assert traits_of(u2) == {}
    assert u2["traits_updated_at"] is None


async def test_group_creates_accounts_with_typed_traits(conn: asyncpg.Connection) -> None:
    traits = {
        "name": "Acme Inc",
        "plan": "enterprise",
        "seats": "25",
        "mrr": 1999.5,
        "renewal_date": "2027-03-31T00:00:00Z",
        "status": "active",
        "industry": "rockets",
    }
    await project_events(conn, table(group("m1", "u1", "acc_1", traits)))
    row = await conn.fetchrow("SELECT * FROM accounts WHERE account_id = 'acc_1'")
    assert row is not None
    assert (row["name"], row["plan"], row["seats"], row["status"]) == (
        "Acme Inc",
        "enterprise",
        25,
        "active",
    )
    assert row["mrr"] == Decimal("1999.5")
    assert row["renewal_date"] == date(2027, 3, 31)
    assert msgspec.json.decode(await conn.fetchval("SELECT traits::text FROM accounts")) == traits


@pytest.mark.parametrize(
    ("seats", "mrr", "renewal_date", "expected"),
    [
        (12, "99", "2026-02-29", (12, Decimal("99"), None)),  # 2026 is not a leap year
        ("lots", "$99", "next year", (None, None, None)),
        (-3, None, "2028-02-29", (None, None, date(2028, 2, 29))),
        (1e12, 1e300, 20270101, (None, Decimal("1e300"), None)),
    ],
)
async def test_odd_account_traits_become_null_not_errors(
    conn: asyncpg.Connection, seats: Any, mrr: Any, renewal_date: Any, expected: tuple[Any, ...]
) -> None:
    traits = {"seats": seats, "mrr": mrr, "renewal_date": renewal_date}
    stats = await project_events(conn, table(group("m1", "u1", "acc", traits)))
    assert stats.accounts == 1
    row = await conn.fetchrow("SELECT seats, mrr, renewal_date FROM accounts")
    assert tuple(row.values()) == expected


async def test_memberships_from_group_calls_and_context_group_id(
    conn: asyncpg.Connection,
) -> None:
    await project_events(
        conn,
        table(
            group("m1", "u1", "acc_old", {"name": "Old"}, at=BASE_US),
            group("m2", "u1", "acc_new", {"name": "New"}, at=BASE_US + 10 * SECOND_US),
            track("m3", "Clicked", user_id="u1", group_id="acc_old", at=BASE_US + 20 * SECOND_US),
            track("m4", "Clicked", user_id="u2", group_id="acc_ctx", at=BASE_US),
            group("m5", None, "acc_anon", {"name": "No user"}),
        ),
    )
    rows = await conn.fetch(
        "SELECT user_id, account_id, first_seen_at, last_seen_at, last_group_call_at "
        "FROM memberships ORDER BY user_id, account_id"
    )
    assert [tuple(r.values()) for r in rows] == [
        ("u1", "acc_new", *[to_datetime(BASE_US + 10 * SECOND_US)] * 3),
        ("u1", "acc_old", to_datetime(BASE_US), to_datetime(BASE_US + 20 * SECOND_US),
         to_datetime(BASE_US)),
        ("u2", "acc_ctx", to_datetime(BASE_US), to_datetime(BASE_US), None),
    ]  # fmt: skip
    # The latest group call decides the current account, not the latest activity.
    current = await conn.fetch(
        "SELECT user_id, account_id FROM user_current_accounts ORDER BY user_id"
    )
    assert [tuple(r.values()) for r in current] == [("u1", "acc_new")]
    accounts = await conn.fetch("SELECT account_id, name FROM accounts ORDER BY account_id")
    assert [tuple(r.values()) for r in accounts] == [
        ("acc_anon", "No user"),
        ("acc_ctx", None),
        ("acc_new", "New"),
        ("acc_old", "Old"),
    ]


async def test_survey_response(conn: asyncpg.Connection) -> None:
    await project_events(
        conn,
        table(
            survey(
                "m1", "r1", score=3, kind="csat", comment="slow exports", feature="exports",
                user_id="u1", group_id="acc_1", anonymous_id="anon_1",
            ),
        ),
    )  # fmt: skip
    row = await response(conn, "r1")
    assert dict(row) == {
        "project_id": P,
        "response_id": "r1",
        "survey_id": "srv_1",
        "kind": "csat",
        "score": 3.0,
        "comment": "slow exports",
        "feature": "exports",
        "user_id": "u1",
        "anonymous_id": "anon_1",
        "account_id": "acc_1",
        "partial": False,
        "message_id": "m1",
        "responded_at": to_datetime(BASE_US),
        "updated_at": to_datetime(BASE_US),
        "locale": None,
        "page_path": None,
        "plan": None,
        "band": None,
        "user_traits": None,
        "segment": "passive",
        "field_ranks": None,  # every field from the row's own event
        **dict.fromkeys(ANALYSIS_COLUMNS),
    }


# Filled by the analysis step after projection (insights), never by the projector.
ANALYSIS_COLUMNS = (
    "language", "tokens", "keywords", "topics", "sentiment", "sentiment_score", "agreement",
    "churn_intent", "competitors", "analysis_version", "analysed_at",
)  # fmt: skip


PARTIAL = survey("m_partial", "r1", score=2, partial=True, at=BASE_US)
COMPLETE = survey(
    "m_complete", "r1", score=2, comment="too expensive", partial=False, at=BASE_US + SECOND_US
)


@pytest.mark.parametrize(
    "batches",
    [
        [[PARTIAL], [COMPLETE]],
        [[COMPLETE], [PARTIAL]],
        [[PARTIAL, COMPLETE]],
        [[COMPLETE, PARTIAL]],
        [[COMPLETE, PARTIAL], [PARTIAL], [COMPLETE]],
    ],
    ids=["partial-then-complete", "complete-then-partial", "one-batch", "one-batch-reversed",
         "with-replays"],
)  # fmt: skip
async def test_partial_response_is_completed_whatever_the_order(
    conn: asyncpg.Connection, batches: list[list[tuple[Any, ...]]]
) -> None:
    for rows in batches:
        await project_events(conn, table(*rows))
    row = await response(conn, "r1")
    assert (row["comment"], row["partial"], row["score"]) == ("too expensive", False, 2.0)
    assert row["responded_at"] == to_datetime(BASE_US)  # when the score was given
    assert row["message_id"] == "m_complete"


async def test_completion_without_score_keeps_the_partial_score(conn: asyncpg.Connection) -> None:
    completion = survey("m2", "r1", score=None, kind=None, survey_id=None, comment="meh")
    await project_events(conn, table(completion))
    await project_events(conn, table(survey("m1", "r1", score=7, partial=True)))
    row = await response(conn, "r1")
    assert (row["score"], row["kind"], row["survey_id"], row["comment"], row["partial"]) == (
        7.0,
        "nps",
        "srv_1",
        "meh",
        False,
    )


# -- idempotence, order, isolation ---------------------------------------------------------


def mixed_batch(project_id: str = P) -> list[tuple[Any, ...]]:
    at = BASE_US
    return [
        identify("i1", "u1", {"name": "Ada", "role": "admin"}, at=at, project_id=project_id),
        identify("i2", "u1", {"role": "owner"}, at=at + 5, project_id=project_id),
        group("g1", "u1", "acc_1", {"name": "Acme", "seats": 10}, at=at, project_id=project_id),
        group("g2", "u2", "acc_1", {"seats": 12}, at=at + 7, project_id=project_id),
        track("t1", "Exported", user_id="u2", group_id="acc_2", at=at + 9, project_id=project_id),
        survey("s1", "r1", partial=True, at=at + 1, project_id=project_id),
        survey("s2", "r1", comment="great", at=at + 3, project_id=project_id),
        survey("s3", "r2", score=4, kind="ces", at=at + 4, project_id=project_id),
    ]


async def test_projecting_twice_changes_nothing(conn: asyncpg.Connection) -> None:
    rows = mixed_batch()
    first = await project_events(conn, table(*rows))
    assert (first.users, first.accounts, first.memberships, first.responses) == (2, 2, 3, 2)
    before = await dump(conn)
    again = await project_events(conn, table(*rows))
    assert (again.users, again.accounts, again.memberships, again.responses) == (0, 0, 0, 0)
    assert await dump(conn) == before
    # Row by row, in reverse, changes nothing either.
    for row in reversed(rows):
        await project_events(conn, table(row))
    assert await dump(conn) == before


async def test_older_traits_do_not_overwrite_newer_ones(conn: asyncpg.Connection) -> None:
    newer = identify("m2", "u1", {"plan": "pro", "seats": 5}, at=BASE_US + 100)
    older = identify("m1", "u1", {"plan": "free", "email": "a@x.io"}, at=BASE_US)
    await project_events(conn, table(newer))
    await project_events(conn, table(older))
    row = await user(conn, "u1")
    assert traits_of(row) == {"plan": "pro", "seats": 5, "email": "a@x.io"}
    assert row["traits_updated_at"] == to_datetime(BASE_US + 100)
    assert row["first_seen_at"] == to_datetime(BASE_US)


async def test_a_later_batch_can_win_some_keys_and_lose_others(conn: asyncpg.Connection) -> None:
    # Per-key timestamps: a single row-level timestamp would let the t=30 event's "b" block
    # the t=20 event's newer "a".
    await project_events(conn, table(identify("m1", "u1", {"a": 1}, at=BASE_US + 10)))
    await project_events(conn, table(identify("m3", "u1", {"b": 3}, at=BASE_US + 30)))
    await project_events(conn, table(identify("m2", "u1", {"a": 2, "b": 2}, at=BASE_US + 20)))
    assert traits_of(await user(conn, "u1")) == {"a": 2, "b": 3}


async def test_projects_are_isolated(conn: asyncpg.Connection) -> None:
    await project_events(conn, table(*mixed_batch("prj_a"), *mixed_batch("prj_b")))
    await project_events(
        conn, table(identify("late", "u1", {"name": "Bob"}, at=BASE_US + 99, project_id="prj_b"))
    )
    assert traits_of(await user(conn, "u1", "prj_a"))["name"] == "Ada"
    assert traits_of(await user(conn, "u1", "prj_b"))["name"] == "Bob"
    a, b = await dump(conn, "prj_a"), await dump(conn, "prj_b")
    for name in a:
        assert len(a[name]) == len(b[name]) > 0
    assert await conn.fetchval("SELECT count(DISTINCT project_id) FROM survey_responses") == 2


async def test_bad_json_is_counted_not_fatal(conn: asyncpg.Connection) -> None:
    stats = await project_events(
        conn,
        table(
            identify("ok", "u1", {"plan": "pro"}),
            identify("bad_json", "u2", "{not json"),
            identify("not_object", "u3", "[1, 2]"),
            group("bad_group", "u4", "acc", '{"name": '),
            survey("bad_kind", "r1", kind="stars"),
            track("no_props", "Survey Responded", None),
            track("bad_score", "Survey Responded", {"response_id": "r2", "score": "nine"}),
            identify("nul", "u5", {"note": "a\u0000b", "k\u0000": 1}),
            track("nul_text", "Clicked", user_id="u\u00006"),
        ),
    )
    assert stats.invalid == 6
    assert stats.users == 3
    assert traits_of(await user(conn, "u5")) == {"note": "a\ufffdb", "k\ufffd": 1}
    assert await conn.fetchval("SELECT count(*) FROM survey_responses") == 0


async def test_failed_rows_are_ignored(conn: asyncpg.Connection) -> None:
    stats = await project_events(
        conn, table(identify("f1", "u1", {"a": 1}, failure_reason="invalid_type"))
    )
    assert (stats.failed_rows, stats.users) == (1, 0)


async def test_runs_inside_the_callers_transaction(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await project_events(conn, table(identify("m1", "u1", {"a": 1})))
    assert await conn.fetchval("SELECT count(*) FROM users") == 1

    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await project_events(conn, table(identify("m2", "u2", {"a": 1})))
            raise RuntimeError("crash before commit")
    assert await conn.fetchval("SELECT count(*) FROM users") == 1


async def test_empty_table(conn: asyncpg.Connection) -> None:
    stats = await project_events(conn, table())
    assert stats.events == 0


# -- properties ----------------------------------------------------------------------------

trait_events = st.lists(
    st.tuples(
        st.integers(0, 5),  # timestamp in seconds after BASE_US: ties are likely
        st.dictionaries(st.sampled_from("abcd"), st.integers(-3, 3), max_size=4),
        st.sampled_from(["u1", "u2"]),
    ),
    min_size=1,
    max_size=10,
)


def expected_traits(events: list[tuple[int, dict[str, int], str]], user_id: str) -> dict[str, int]:
    """Per key, the value with the latest timestamp; ties to the larger value (as jsonb)."""
    best: dict[str, tuple[int, int]] = {}
    for at, traits, who in events:
        if who != user_id:
            continue
        for key, value in traits.items():
            best[key] = max(best.get(key, (at, value)), (at, value))
    return {key: value for key, (_, value) in best.items()}


@DB_EXAMPLES
@given(events=trait_events, data=st.data())
async def test_trait_merge_is_order_independent(
    conn: asyncpg.Connection,
    events: list[tuple[int, dict[str, int], str]],
    data: st.DataObject,
) -> None:
    project_id = "prj_" + secrets.token_hex(6)
    rows = [
        identify(f"m{i}", who, traits, at=BASE_US + at * SECOND_US, project_id=project_id)
        for i, (at, traits, who) in enumerate(events)
    ]
    order = data.draw(st.permutations(rows), label="arrival order")
    cuts = sorted(data.draw(st.sets(st.integers(1, len(rows)), max_size=3), label="batch cuts"))
    start = 0
    for cut in [*cuts, len(rows)]:
        if cut > start:
            await project_events(conn, table(*order[start:cut]))
            start = cut
    for who in {who for _, _, who in events}:
        assert traits_of(await user(conn, who, project_id)) == expected_traits(events, who)
    # A replay of everything in one batch changes nothing.
    before = await dump(conn, project_id)
    stats = await project_events(conn, table(*rows))
    assert stats.users == 0
    assert await dump(conn, project_id) == before


response_events = st.lists(
    st.tuples(
        st.integers(0, 3),  # seconds after BASE_US
        st.booleans(),  # partial
        st.one_of(st.none(), st.sampled_from(["slow", "great"])),  # comment
        st.one_of(st.none(), st.integers(0, 10)),  # score
    ),
    min_size=1,
    max_size=4,
)


@DB_EXAMPLES
@given(events=response_events, data=st.data())
async def test_response_merge_does_not_depend_on_batching(
    conn: asyncpg.Connection,
    events: list[tuple[int, bool, str | None, int | None]],
    data: st.DataObject,
) -> None:
    rows = [
        survey(f"m{i}", "r1", score=score, comment=comment, partial=partial,
               at=BASE_US + at * SECOND_US)
        for i, (at, partial, comment, score) in enumerate(events)
    ]  # fmt: skip
    reference = "prj_" + secrets.token_hex(6)
    await project_events(conn, table(*[with_project(r, reference) for r in rows]))
    expected = dict(await response(conn, "r1", reference))

    # Any arrival order, one event per batch, gives the same row.
    project_id = "prj_" + secrets.token_hex(6)
    for row in data.draw(st.permutations(rows), label="arrival order"):
        await project_events(conn, table(with_project(row, project_id)))
    got = dict(await response(conn, "r1", project_id))
    ranked = sorted(events, key=lambda e: (not e[1], e[0]))
    top = ranked[-1]
    assert got["partial"] == expected["partial"] == all(partial for _, partial, _, _ in events)
    assert got["updated_at"] == expected["updated_at"] == to_datetime(BASE_US + top[0] * SECOND_US)
    if top[2] is not None:
        assert got["comment"] == expected["comment"] == top[2]
    del got["project_id"], expected["project_id"]
    assert got == expected


def with_project(row: tuple[Any, ...], project_id: str) -> tuple[Any, ...]:
    return (project_id, *row[1:])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored=st.dictionaries(st.sampled_from("abc"), st.tuples(st.integers(0, 3), st.integers(0, 3))),
    incoming=st.dictionaries(
        st.sampled_from("abc"), st.tuples(st.integers(0, 3), st.integers(0, 3))
    ),
)
async def test_change_check_agrees_with_merge(
    conn: asyncpg.Connection,
    stored: dict[str, tuple[int, int]],
    incoming: dict[str, tuple[int, int]],
) -> None:
    def split(traits: dict[str, tuple[int, int]]) -> tuple[str, str]:
        values = {k: v for k, (_, v) in traits.items()}
        stamps = {k: at for k, (at, _) in traits.items()}
        return msgspec.json.encode(values).decode(), msgspec.json.encode(stamps).decode()

    row = await conn.fetchrow(
        """
        SELECT m.traits::text, m.trait_timestamps::text,
               (m.traits, m.trait_timestamps) IS DISTINCT FROM ($1::jsonb, $2::jsonb) AS differs,
               cxloop_traits_change($1::jsonb, $2::jsonb, $3::jsonb, $4::jsonb) AS change
        FROM cxloop_merge_traits($1::jsonb, $2::jsonb, $3::jsonb, $4::jsonb) AS m
        """,
        *split(stored),
        *split(incoming),
    )
    assert row["change"] == row["differs"]
    merged = {**stored}
    for key, candidate in incoming.items():
        merged[key] = max(merged.get(key, candidate), candidate)
    assert msgspec.json.decode(row["traits"]) == {k: v for k, (_, v) in merged.items()}


# -- hostile values, refused events, ratings from other tools (issue 12) ------------------------


async def test_nul_surrogates_and_huge_numbers_reach_postgresql_as_u_fffd(
    conn: asyncpg.Connection,
) -> None:
    props = (
        '{"response_id": "r\\u0000", "kind": "nps", "score": 2, '
        '"comment": "bad\\u0000\\ud800 \\ud83d\\ude00", "feature": "x\\udc00"}'
    )
    stats = await project_events(
        conn,
        table(
            identify("m1", "u\x001", '{"k\\u0000": "v\\ud800", "big": 1e400, "huge": -1e999999}'),
            group("m2", "u\x001", "acc\x00", '{"name": "\\u0000Acme", "deep": [[[[[[1]]]]]]}'),
            track("m3", "Survey Responded", props, user_id="u\x001", group_id="acc\x00"),
        ),
    )
    assert (stats.invalid, stats.quarantined, stats.users, stats.accounts) == (0, 0, 1, 1)
    traits = await conn.fetchval(
        "SELECT traits::text FROM users WHERE project_id = $1 AND user_id = $2", P, "u\ufffd1"
    )
    decoded = msgspec.json.Decoder(float_hook=Decimal).decode(traits)
    assert decoded == {"k\ufffd": "v\ufffd", "big": Decimal("1e400"), "huge": "-1E+999999"}
    account = await conn.fetchval(
        "SELECT traits->>'name' FROM accounts WHERE project_id = $1 AND account_id = $2",
        P,
        "acc\ufffd",
    )
    assert account == "\ufffdAcme"
    row = await response(conn, "r\ufffd")
    assert (row["comment"], row["feature"], row["account_id"]) == (
        "bad\ufffd\ufffd \U0001f600",
        "x\ufffd",
        "acc\ufffd",
    )


def _long_id(length: int = 6000) -> str:
    # Random (incompressible) text: too long for a B-tree index entry, so PostgreSQL refuses
    # the users row (54000) however valid the event was at ingest.
    return secrets.token_hex(length // 2)


async def test_an_event_postgresql_refuses_is_quarantined_and_the_rest_projects(
    conn: asyncpg.Connection,
) -> None:
    rows = [track(f"m{i}", "Clicked", user_id=f"u{i}", group_id="acc") for i in range(20)]
    rows[13] = track("poison", "Clicked", user_id=_long_id(), group_id="acc")
    rows.append(survey("m-survey", "r1", score=2, user_id="u3", group_id="acc"))
    events = table(*rows)
    async with conn.transaction():
        stats = await project_events(conn, events)
    assert (stats.events, stats.quarantined, stats.users, stats.responses) == (21, 1, 19, 1)
    assert await conn.fetchval("SELECT count(*) FROM users WHERE project_id = $1", P) == 19
    quarantined = await conn.fetch("SELECT * FROM projection_quarantine")
    assert [(q["project_id"], q["message_id"], q["reason"]) for q in quarantined] == [
        (P, "poison", "database_refused")
    ]
    assert quarantined[0]["detail"].startswith("54000 ")
    # A replay (the pipeline crashed before deleting the segment) reaches the same decision.
    before = await dump(conn, P)
    again = await project_events(conn, events)
    assert (again.quarantined, again.users, again.memberships, again.responses) == (1, 0, 0, 0)
    assert await dump(conn, P) == before
    assert await conn.fetchval("SELECT count(*) FROM projection_quarantine") == 1


async def test_a_batch_of_refused_events_is_quarantined_whole_not_retried_forever(
    conn: asyncpg.Connection,
) -> None:
    # A segment may hold nothing but refused events: they are quarantined (with their typed
    # reasons), so the segment can be deleted instead of being retried forever.
    events = table(
        track("p1", "A", user_id=_long_id()),
        track("p2", "B", user_id="u2", at=2**62),  # past year 9999: Python cannot hold it
    )
    stats = await project_events(conn, events)
    assert (stats.quarantined, stats.users) == (2, 0)
    rows = await conn.fetch(
        "SELECT message_id, reason, detail FROM projection_quarantine ORDER BY message_id"
    )
    assert [(r["message_id"], r["reason"]) for r in rows] == [
        ("p1", "database_refused"),
        ("p2", "unprojectable_value"),
    ]
    assert rows[1]["detail"].startswith("OverflowError")
    assert await conn.fetchval("SELECT count(*) FROM users") == 0


async def test_an_event_refused_for_its_own_message_id_is_still_quarantined(
    conn: asyncpg.Connection,
) -> None:
    # A rating without response_id is keyed by its messageId; one too long to index is refused,
    # and its quarantine row (keyed by the same id) must not be refused in turn.
    long_id = _long_id()
    events = table(
        track(long_id, "Survey Responded", {"kind": "nps", "score": 9}),
        track("m-ok", "Survey Responded", {"kind": "nps", "score": 10}),
    )
    stats = await project_events(conn, events)
    assert (stats.quarantined, stats.responses) == (1, 1)
    [row] = await conn.fetch("SELECT message_id, reason FROM projection_quarantine")
    assert row["reason"] == "database_refused"
    assert row["message_id"].startswith(long_id[:400]) and len(row["message_id"]) == 512
    assert (await response(conn, "m-ok"))["score"] == 10


async def test_a_rating_from_another_tool_lands_keyed_by_message_id(
    conn: asyncpg.Connection,
) -> None:
    stats = await project_events(
        conn,
        table(track("msg-1", "Survey Responded", {"kind": "nps", "score": 3}, group_id="acc")),
    )
    assert (stats.invalid, stats.responses) == (0, 1)
    row = await response(conn, "msg-1")
    assert (row["score"], row["account_id"], row["message_id"]) == (3, "acc", "msg-1")


async def test_a_response_without_group_id_counts_for_the_users_current_account(
    conn: asyncpg.Connection,
) -> None:
    # Membership known first: attributed when the response is projected, like usage.
    await project_events(conn, table(group("g1", "u1", "acc_a", {"name": "A"})))
    await project_events(conn, table(survey("s1", "r1", score=2, user_id="u1")))
    assert (await response(conn, "r1"))["account_id"] == "acc_a"
    # Both in one batch: memberships are upserted before responses.
    await project_events(
        conn, table(survey("s2", "r2", user_id="u2"), group("g2", "u2", "acc_b", None))
    )
    assert (await response(conn, "r2"))["account_id"] == "acc_b"
    # An explicit context.groupId wins over the membership.
    await project_events(conn, table(survey("s3", "r3", user_id="u1", group_id="acc_x")))
    assert (await response(conn, "r3"))["account_id"] == "acc_x"


async def test_a_response_before_the_users_first_group_call_gets_its_account_later(
    conn: asyncpg.Connection,
) -> None:
    project = await create_project(conn, "acme")
    pid = project.id
    await project_events(
        conn,
        table(
            survey("s1", "r1", score=1, user_id="u1", project_id=pid),
            survey("s2", "r2", score=9, user_id="u1", group_id="acc_old", project_id=pid),
            survey("s3", "r3", score=9, user_id="u_other", project_id=pid),
        ),
    )
    assert (await response(conn, "r1", pid))["account_id"] is None
    alert_account = "SELECT account_id FROM alerts WHERE project_id = $1 AND response_id = $2"
    assert await conn.fetchrow(alert_account, pid, "r1") is not None
    assert await conn.fetchval(alert_account, pid, "r1") is None

    stats = await project_events(conn, table(group("g1", "u1", "acc_a", None, project_id=pid)))
    assert stats.attributed == 1
    assert (await response(conn, "r1", pid))["account_id"] == "acc_a"
    assert await conn.fetchval(alert_account, pid, "r1") == "acc_a"
    assert (await response(conn, "r2", pid))["account_id"] == "acc_old"  # never moved
    assert (await response(conn, "r3", pid))["account_id"] is None  # another user
    # A later group call to another account does not move an attributed response.
    await project_events(
        conn, table(group("g2", "u1", "acc_b", None, at=BASE_US + SECOND_US, project_id=pid))
    )
    assert (await response(conn, "r1", pid))["account_id"] == "acc_a"


@DB_EXAMPLES
@given(rows=hostile_rows(max_rows=6), split=st.integers(0, 6))
async def test_postgresql_accepts_whatever_a_visitor_sends(
    conn: asyncpg.Connection, rows: list[tuple[Any, ...]], split: int
) -> None:
    # Nothing is refused (no quarantine, no invalid row), and projecting in two batches lands
    # the same rows as one: sanitising is deterministic. (A response's account may differ:
    # it is the user's current account when the response is projected.)
    pid_one, pid_two = "prj_" + secrets.token_hex(4), "prj_" + secrets.token_hex(4)
    one = [_in_project(row, pid_one) for row in rows]
    two = [_in_project(row, pid_two) for row in rows]
    stats = await project_events(conn, table(*one))
    assert (stats.quarantined, stats.invalid) == (0, 0)
    for part in (two[:split], two[split:]):
        await project_events(conn, table(*part))
    landed_one, landed_two = await dump(conn, pid_one), await dump(conn, pid_two)
    for name, rows_one in landed_one.items():
        assert _without(rows_one) == _without(landed_two[name]), name
    assert await conn.fetchval("SELECT count(*) FROM projection_quarantine") == 0


_PROJECT_COLUMN = [f.name for f in WAL_SCHEMA].index("project_id")


def _in_project(row: tuple[Any, ...], project_id: str) -> tuple[Any, ...]:
    values = list(row)
    values[_PROJECT_COLUMN] = project_id
    return tuple(values)


def _without(rows: list[Any]) -> list[Any]:
    return [[(k, v) for k, v in row if k not in ("project_id", "account_id")] for row in rows]


# -- a response's context and survey impressions (issue 15) -------------------------------------

CONTEXT = '{"locale": "zh-TW", "page": {"path": "/app/reports", "url": "https://x/app/reports"}}'


async def _project_with_survey(conn: asyncpg.Connection) -> str:
    """A project with a survey defining a feature, one with only a trigger event, key traits
    configured, an account with a plan and a health band."""
    pid = (await create_project(conn, "ctx")).id
    for survey_id, definition in (
        ("srv_feature", {"feature": "exports", "trigger": {"event": "Export Done"}}),
        ("srv_trigger", {"trigger": {"event": "Report Viewed"}}),
        ("srv_plain", {}),
    ):
        await conn.execute(
            "INSERT INTO surveys (project_id, id, name, kind, definition) "
            "VALUES ($1, $2, $2, 'nps', $3::jsonb)",
            pid,
            survey_id,
            msgspec.json.encode(definition).decode(),
        )
    await conn.execute(
        "INSERT INTO insights_config (project_id, config) VALUES ($1, $2::jsonb)",
        pid,
        '{"user_traits": ["role", "region", "absent"]}',
    )
    await conn.execute(
        "INSERT INTO health_snapshots (project_id, account_id, day, score, band, confidence, "
        "components, drivers) VALUES ($1, 'acc_1', $2, 40, 'red', 'normal', '[]', '{}'), "
        "($1, 'acc_1', $3, 70, 'yellow', 'normal', '[]', '{}')",
        pid,
        date(2026, 11, 1),
        date(2026, 11, 20),
    )
    await project_events(
        conn,
        table(
            identify("i1", "u1", {"role": "admin", "region": "TW", "email": "a@b.c"},
                     project_id=pid),
            group("g1", "u1", "acc_1", {"plan": "pro"}, project_id=pid),
        ),
    )  # fmt: skip
    return pid


async def test_a_response_keeps_its_context_when_projected(conn: asyncpg.Connection) -> None:
    pid = await _project_with_survey(conn)
    await project_events(
        conn,
        table(
            survey("m1", "r1", survey_id="srv_feature", context=CONTEXT, project_id=pid),
            survey("m2", "r2", survey_id="srv_trigger", project_id=pid),
            survey("m3", "r3", survey_id="srv_feature", feature="own", project_id=pid),
            survey("m4", "r4", survey_id="srv_plain", user_id="u_unknown", project_id=pid),
        ),
    )
    row = await response(conn, "r1", pid)
    assert (row["locale"], row["page_path"], row["feature"]) == ("zh-TW", "/app/reports", "exports")
    assert (row["account_id"], row["plan"], row["band"]) == ("acc_1", "pro", "yellow")
    assert msgspec.json.decode(row["user_traits"]) == {"role": "admin", "region": "TW"}
    assert (await response(conn, "r2", pid))["feature"] == "Report Viewed"
    assert (await response(conn, "r3", pid))["feature"] == "own"
    r4 = await response(conn, "r4", pid)
    assert (r4["feature"], r4["plan"], r4["band"], r4["user_traits"], r4["locale"]) == (
        None, None, None, None, None,
    )  # fmt: skip


async def test_without_configured_traits_none_are_kept(conn: asyncpg.Connection) -> None:
    pid = await _project_with_survey(conn)
    await conn.execute("UPDATE insights_config SET config = '{}' WHERE project_id = $1", pid)
    await project_events(conn, table(survey("m1", "r1", project_id=pid)))
    assert (await response(conn, "r1", pid))["user_traits"] is None


async def test_plan_and_band_are_those_of_the_first_projection(conn: asyncpg.Connection) -> None:
    pid = await _project_with_survey(conn)
    await project_events(conn, table(survey("m1", "r1", score=3, partial=True, project_id=pid)))
    # The account changes plan and health; the completion of the same response arrives.
    await project_events(
        conn, table(group("g2", "u1", "acc_1", {"plan": "free"}, at=BASE_US + 5, project_id=pid))
    )
    await conn.execute("UPDATE health_snapshots SET band = 'green' WHERE project_id = $1", pid)
    await project_events(
        conn,
        table(survey("m2", "r1", score=3, comment="ok", context=CONTEXT, at=BASE_US + SECOND_US,
                     project_id=pid)),
    )  # fmt: skip
    row = await response(conn, "r1", pid)
    assert (row["plan"], row["band"], row["comment"], row["locale"]) == (
        "pro", "yellow", "ok", "zh-TW",
    )  # fmt: skip
    # A new response gets the new plan and band.
    await project_events(conn, table(survey("m3", "r2", at=BASE_US + 9, project_id=pid)))
    row = await response(conn, "r2", pid)
    assert (row["plan"], row["band"]) == ("free", "green")


async def test_a_response_attributed_later_gets_that_accounts_plan(
    conn: asyncpg.Connection,
) -> None:
    pid = await _project_with_survey(conn)
    await project_events(conn, table(survey("m1", "r1", user_id="u_new", project_id=pid)))
    assert (await response(conn, "r1", pid))["plan"] is None
    await project_events(conn, table(group("g9", "u_new", "acc_1", None, project_id=pid)))
    row = await response(conn, "r1", pid)
    assert (row["account_id"], row["plan"], row["band"]) == ("acc_1", "pro", "yellow")


async def test_a_changed_comment_is_analysed_again(conn: asyncpg.Connection) -> None:
    await project_events(conn, table(survey("m1", "r1", comment="slow", partial=True)))
    mark = "UPDATE survey_responses SET analysis_version = 7, sentiment = 'negative'"
    await conn.execute(mark)
    # The same comment again (a replay, or the completion repeating it): still analysed.
    await project_events(conn, table(survey("m2", "r1", comment="slow", at=BASE_US + 5)))
    assert (await response(conn, "r1"))["analysis_version"] == 7
    # A later event with another comment: pending again; the old analysis stays until redone.
    await project_events(
        conn, table(survey("m3", "r1", comment="slow exports", at=BASE_US + SECOND_US))
    )
    row = await response(conn, "r1")
    assert (row["comment"], row["analysis_version"], row["sentiment"]) == (
        "slow exports", None, "negative",
    )  # fmt: skip
    # An older event's comment loses: nothing changes.
    await conn.execute(mark)
    await project_events(conn, table(survey("m0", "r1", comment="old", at=BASE_US - 5)))
    assert (await response(conn, "r1"))["analysis_version"] == 7


async def test_survey_impressions(conn: asyncpg.Connection) -> None:
    pid = await _project_with_survey(conn)
    shown = {"survey_id": "srv_feature", "kind": "nps", "placement": "modal"}
    rows = [
        track("s1", "Survey Shown", shown, user_id="u1", context=CONTEXT, project_id=pid),
        track("s2", "Survey Dismissed", {"survey_id": "srv_trigger", "kind": "csat",
              "reason": "snooze"}, user_id="u9", group_id="acc_9", at=BASE_US + 7,
              project_id=pid),
        track("s3", "Survey Shown", {"survey_id": 5, "kind": "stars", "feature": "f"},
              anonymous_id="a1", user_id=None, project_id=pid),
        track("s4", "Survey Shown", None, project_id=pid),
    ]  # fmt: skip
    stats = await project_events(conn, table(*rows))
    assert (stats.impressions, stats.invalid) == (4, 0)
    got = {
        r["message_id"]: dict(r)
        for r in await conn.fetch("SELECT * FROM survey_impressions WHERE project_id = $1", pid)
    }
    assert {k: v for k, v in got["s1"].items() if k != "user_traits"} == {
        "project_id": pid, "message_id": "s1", "event": "shown", "survey_id": "srv_feature",
        "kind": "nps", "feature": "exports", "user_id": "u1", "anonymous_id": None,
        "account_id": "acc_1", "locale": "zh-TW", "page_path": "/app/reports", "plan": "pro",
        "band": "yellow", "detail": "modal", "occurred_at": to_datetime(BASE_US),
    }  # fmt: skip
    assert msgspec.json.decode(got["s1"]["user_traits"]) == {"role": "admin", "region": "TW"}
    s2 = got["s2"]
    assert (s2["event"], s2["detail"], s2["account_id"], s2["feature"], s2["kind"]) == (
        "dismissed", "snooze", "acc_9", "Report Viewed", "csat",
    )  # fmt: skip
    s3 = got["s3"]
    assert (s3["survey_id"], s3["kind"], s3["feature"], s3["anonymous_id"]) == (
        None, None, "f", "a1",
    )  # fmt: skip
    assert (got["s4"]["survey_id"], got["s4"]["detail"]) == (None, None)
    # A replay records nothing twice.
    again = await project_events(conn, table(*rows))
    assert again.impressions == 0
    assert await conn.fetchval("SELECT count(*) FROM survey_impressions") == 4


async def test_unreadable_impression_properties_are_reported(conn: asyncpg.Connection) -> None:
    stats = await project_events(conn, table(track("s1", "Survey Shown", "[1, 2")))
    assert (stats.invalid, stats.impressions) == (1, 0)


@pytest.mark.parametrize(
    "context",
    ['{"locale": 5, "page": "x"}', '{"page": {"path": ["a"]}}', "not json", '{"locale": ""}'],
)
async def test_odd_contexts_give_no_locale_or_page(conn: asyncpg.Connection, context: str) -> None:
    stats = await project_events(conn, table(survey("m1", "r1", context=context)))
    assert (stats.responses, stats.invalid) == (1, 0)
    row = await response(conn, "r1")
    assert (row["locale"], row["page_path"]) == (None, None)


# (seconds after BASE_US, partial, locale, page path, comment, score, group id, feature)
ResponseEvent = tuple[int, bool, str | None, str | None, str | None, int | None, str | None,
                      str | None]  # fmt: skip
response_event = st.tuples(
    st.integers(0, 2),  # ties in time are likely: message_id decides
    st.booleans(),
    st.sampled_from([None, "en", "zh-CN"]),
    st.sampled_from([None, "/a", "/b"]),
    st.sampled_from([None, "slow", "great"]),
    st.one_of(st.none(), st.integers(0, 10)),
    st.sampled_from([None, "acc_a", "acc_b"]),
    st.sampled_from([None, "exports", "search"]),
)
# The row's columns each event can supply, with the event field giving it.
SUPPLIED = {"locale": 2, "page_path": 3, "comment": 4, "score": 5, "account_id": 6, "feature": 7}


def response_rows(events: list[ResponseEvent], project_id: str) -> list[tuple[Any, ...]]:
    def context(locale: str | None, path: str | None) -> str:
        return msgspec.json.encode(
            {**({"locale": locale} if locale else {}), **({"page": {"path": path}} if path else {})}
        ).decode()

    return [
        survey(f"m{i}", "r1", partial=partial, at=BASE_US + at * SECOND_US,
               context=context(locale, path), comment=comment, score=score, group_id=group_id,
               feature=feature, project_id=project_id)
        for i, (at, partial, locale, path, comment, score, group_id, feature) in enumerate(events)
    ]  # fmt: skip


def by_the_rule(events: list[ResponseEvent]) -> dict[str, Any]:
    """What the documented rule gives: each column from the highest-ranked event having it."""
    ranked = sorted(enumerate(events), key=lambda e: (not e[1][1], e[1][0], f"m{e[0]}"))
    expected: dict[str, Any] = {}
    for column, index in SUPPLIED.items():
        values = [event[index] for _, event in ranked if event[index] is not None]
        expected[column] = values[-1] if values else None
    top_index, top = ranked[-1]
    expected |= {
        "partial": all(event[1] for event in events),
        "message_id": f"m{top_index}",
        "updated_at": to_datetime(BASE_US + top[0] * SECOND_US),
        "responded_at": to_datetime(BASE_US + min(event[0] for event in events) * SECOND_US),
    }
    return expected


def splits(rows: list[tuple[Any, ...]]) -> Iterator[list[list[tuple[Any, ...]]]]:
    """Every way to cut ``rows`` into consecutive non-empty batches."""
    for cuts in itertools.product([False, True], repeat=len(rows) - 1):
        batches, start = [], 0
        for end, cut in enumerate([*cuts, True], start=1):
            if cut:
                batches.append(rows[start:end])
                start = end
        yield batches


def without_project(row: asyncpg.Record) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "project_id"}


# Each example projects every order and split of its events (up to 24 ways): fewer examples.
@settings(DB_EXAMPLES, max_examples=20)
@given(events=st.lists(response_event, min_size=1, max_size=3))
async def test_response_merge_is_the_same_for_every_order_and_batching(
    conn: asyncpg.Connection, events: list[ResponseEvent]
) -> None:
    # Every arrival order and every split into batches, in SQL (one response per project),
    # and every order of Python's merge, give the row the rule says (issue 18: a field filled
    # from a lower-ranked event used to keep no rank of its own, and the order decided it).
    expected = by_the_rule(events)
    reference: dict[str, Any] | None = None
    for order in itertools.permutations(range(len(events))):
        for batches in splits(list(order)):
            project_id = "prj_" + secrets.token_hex(6)
            rows = response_rows(events, project_id)
            for batch in batches:
                await project_events(conn, table(*[rows[i] for i in batch]))
            got = without_project(await response(conn, "r1", project_id))
            assert {column: got[column] for column in expected} == expected, (order, batches)
            reference = got if reference is None else reference
            assert got == reference, (order, batches)  # field_ranks too
        single = [
            prepare_batch(table(row)).responses[(P, "r1")] for row in response_rows(events, P)
        ]
        merged = functools.reduce(merge_responses, [single[i] for i in order])
        assert {column: getattr(merged, column) for column in SUPPLIED} == {
            column: expected[column] for column in SUPPLIED
        }
        assert (merged.partial, merged.message_id) == (expected["partial"], expected["message_id"])
    # A replay of every event in one batch changes nothing.
    assert (await project_events(conn, table(*response_rows(events, project_id)))).responses == 0


async def test_an_event_sending_an_account_replaces_a_looked_up_one(
    conn: asyncpg.Connection,
) -> None:
    # m2 outranks m1, but has no groupId: its account is looked up (the user's current one,
    # acc_now), which ranks below every event's, so m1's acc_sent wins in both orders.
    sent = survey("m1", "r1", partial=True, group_id="acc_sent", at=BASE_US, project_id="p1")
    looked_up = survey("m2", "r1", partial=True, at=BASE_US + SECOND_US, project_id="p1")
    for project_id, order in (("p_a", (sent, looked_up)), ("p_b", (looked_up, sent))):
        await project_events(
            conn, table(with_project(group("g1", "u1", "acc_now", {}, at=BASE_US), project_id))
        )
        for row in order:
            await project_events(conn, table(with_project(row, project_id)))
        assert (await response(conn, "r1", project_id))["account_id"] == "acc_sent"
    # Attributed by a later group call: the same rule.
    await project_events(conn, table(with_project(looked_up, "p_c")))
    assert (await response(conn, "r1", "p_c"))["account_id"] is None
    await project_events(conn, table(with_project(group("g1", "u1", "acc_now", {}), "p_c")))
    assert (await response(conn, "r1", "p_c"))["account_id"] == "acc_now"
    await project_events(conn, table(with_project(sent, "p_c")))
    assert (await response(conn, "r1", "p_c"))["account_id"] == "acc_sent"


# -- the daily rollups (migration 0007) stay equal to the rows ------------------------------------

ROLLUP_FROM_ROWS = """
SELECT kind, (responded_at AT TIME ZONE 'UTC')::date AS day, survey_id, feature, plan, band,
       locale, count(*) AS n, count(*) FILTER (WHERE segment = 'promoter') AS promoters,
       count(*) FILTER (WHERE segment = 'passive') AS passives,
       count(*) FILTER (WHERE segment = 'detractor') AS detractors,
       sum(score) AS total, sum(score * score) AS squares
FROM survey_responses WHERE project_id = $1 AND kind IS NOT NULL AND score IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7
"""
ROLLUP = """
SELECT kind, day, survey_id, feature, plan, band, locale, n, promoters, passives, detractors,
       total, squares
FROM survey_rating_days WHERE project_id = $1 AND n <> 0 ORDER BY 1, 2, 3, 4, 5, 6, 7
"""


async def assert_rollups_match(conn: asyncpg.Connection, project_id: str) -> None:
    rows = [tuple(r) for r in await conn.fetch(ROLLUP_FROM_ROWS, project_id)]
    assert [tuple(r) for r in await conn.fetch(ROLLUP, project_id)] == rows
    # No rollup row may hold negative counts (a subtraction without its addition).
    assert not await conn.fetchval(
        "SELECT count(*) FROM survey_rating_days WHERE project_id = $1 AND "
        "(n < 0 OR promoters < 0 OR passives < 0 OR detractors < 0)",
        project_id,
    )
    shown_rows = await conn.fetch(
        "SELECT kind, (occurred_at AT TIME ZONE 'UTC')::date, survey_id, feature, count(*) "
        "FROM survey_impressions WHERE project_id = $1 AND event = 'shown' AND kind IS NOT NULL "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        project_id,
    )
    shown = await conn.fetch(
        "SELECT kind, day, survey_id, feature, sum(shown) FROM survey_shown_days "
        "WHERE project_id = $1 GROUP BY 1, 2, 3, 4 HAVING sum(shown) <> 0 ORDER BY 1, 2, 3, 4",
        project_id,
    )
    assert [tuple(r) for r in shown] == [tuple(r) for r in shown_rows]


@DB_EXAMPLES
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["r1", "r2", "r3"]),
            st.integers(0, 3),  # days after BASE_US (crosses UTC days)
            st.booleans(),  # partial
            st.one_of(st.none(), st.integers(0, 10)),  # score
            st.sampled_from(["nps", "csat", None]),
            st.sampled_from([None, "en", "zh-CN"]),
        ),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
async def test_rollups_follow_every_upsert(
    conn: asyncpg.Connection,
    events: list[tuple[str, int, bool, int | None, str | None, str | None]],
    data: st.DataObject,
) -> None:
    project_id = "prj_" + secrets.token_hex(6)
    rows = [
        survey(f"m{i}", rid, score=score if kind != "csat" or score is None else 1 + score % 5,
               kind=kind, partial=partial, at=BASE_US + day * 86_400 * SECOND_US + i,
               context=msgspec.json.encode({"locale": locale}).decode(), project_id=project_id)
        for i, (rid, day, partial, score, kind, locale) in enumerate(events)
    ] + [
        track(f"s{i}", "Survey Shown", {"survey_id": "srv_1", "kind": "nps"},
              at=BASE_US + i * 3_600 * SECOND_US, project_id=project_id)
        for i in range(len(events))
    ]  # fmt: skip
    order = data.draw(st.permutations(rows), label="arrival order")
    cut = data.draw(st.integers(0, len(order)), label="batch cut")
    for part in (order[:cut], order[cut:]):
        if part:
            await project_events(conn, table(*part))
    await assert_rollups_match(conn, project_id)
    # The analysis step's updates, attribution and deletes keep them equal too.
    await conn.execute(
        "UPDATE survey_responses SET sentiment = 'neutral', plan = 'pro' WHERE project_id = $1",
        project_id,
    )
    await conn.execute(
        "DELETE FROM survey_responses WHERE project_id = $1 AND response_id = 'r1'", project_id
    )
    await assert_rollups_match(conn, project_id)
