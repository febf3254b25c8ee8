"""Parsing and in-batch collapsing, before anything reaches PostgreSQL."""

from __future__ import annotations

import functools
import itertools
import json
import re
from decimal import Decimal

import msgspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.projection.prepare import PreparedBatch, ResponseRow, merge_responses, prepare_batch
from tests.helpers.events import BASE_US, group, identify, survey, table, track
from tests.unit.projection.hostile import hostile_rows

P = "prj_test"


def test_seen_times_and_group_calls_collapse_per_row() -> None:
    batch = prepare_batch(
        table(
            track("m1", "A", user_id="u1", group_id="acc", at=BASE_US + 5),
            group("m2", "u1", "acc", {"name": "Acme"}, at=BASE_US + 3),
            track("m3", "B", user_id="u1", at=BASE_US + 9),
            group("m4", "u1", "acc", {"plan": "pro"}, at=BASE_US + 1),
        )
    )
    user = batch.users[(P, "u1")]
    assert (user.first, user.last, user.marked) == (BASE_US + 1, BASE_US + 9, None)
    membership = batch.memberships[(P, "u1", "acc")]
    assert (membership.first, membership.last, membership.marked) == (
        BASE_US + 1,
        BASE_US + 5,
        BASE_US + 3,  # the latest *group call*, not the latest event naming the account
    )
    account = batch.accounts[(P, "acc")]
    assert account.marked == BASE_US + 3
    assert batch.account_traits.timestamps == [BASE_US + 3, BASE_US + 1]


def test_traits_pass_through_unless_they_hold_nul() -> None:
    raw = '{"plan": "pro",  "seats": 3}'
    batch = prepare_batch(
        table(
            identify("m1", "u1", raw),
            identify("m2", "u2", {"n": "a\u0000"}),
            identify("m3", "u3", {}),
        )
    )
    assert batch.user_traits.traits[0] == raw  # no re-encoding on the common path
    assert msgspec.json.decode(batch.user_traits.traits[1]) == {"n": "a\ufffd"}
    assert len(batch.user_traits.traits) == 2  # empty traits add nothing
    assert batch.users[(P, "u3")].marked is None


def test_identify_traits_fall_back_to_context_traits() -> None:
    # RudderStack's browser SDK sends identify traits in context.traits only.
    batch = prepare_batch(
        table(
            identify("m1", "u1", None, context='{"traits":{"plan":"pro"},"ip":"127.0.0.0"}'),
            identify("m2", "u2", {"plan": "top"}, context='{"traits":{"plan":"nested"}}'),
            identify("m3", "u3", None, context='{"traits":"not an object"}'),
            identify("m4", "u4", None, context='{"traits":' + "[" * 2000 + "]" * 2000 + "}"),
        )
    )
    traits = dict(zip(batch.user_traits.entity_ids, batch.user_traits.traits, strict=True))
    assert msgspec.json.decode(traits["u1"]) == {"plan": "pro"}
    assert msgspec.json.decode(traits["u2"]) == {"plan": "top"}  # top-level traits win
    assert set(traits) == {"u1", "u2"}
    assert not batch.invalid  # an unusable context.traits is no reason to refuse the event


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (identify("m", "u1", "{oops"), "traits are not a JSON object"),
        (identify("m", "u1", '"text"'), "traits are not a JSON object"),
        (identify("m", "u1", "[" * 2000 + "]" * 2000), "traits are not a JSON object"),
        (survey("m", "r1", kind="stars"), "Survey Responded properties"),
        (survey("m", "", score=1), "Survey Responded properties"),
        (survey("m", "r1", score=True), "Survey Responded properties"),
        (track("m", "Survey Responded", None), "without properties"),
    ],
)
def test_invalid_rows_are_reported(row: tuple[object, ...], reason: str) -> None:
    batch = prepare_batch(table(row, identify("ok", "u9", {"a": 1})))
    assert [r.message_id for r in batch.invalid] == ["m"]
    assert reason in batch.invalid[0].reason
    assert list(batch.users) == [(P, "u9")]


def test_timestamp_falls_back_to_received_at() -> None:
    batch = prepare_batch(table(track("m1", "A", user_id="u1", timestamp=None, at=BASE_US + 7)))
    assert batch.users[(P, "u1")].first == BASE_US + 7


def _response(message_id: str, at: int, *, partial: bool, comment: str | None = None,
              score: float | None = None) -> ResponseRow:  # fmt: skip
    return ResponseRow(
        project_id=P, response_id="r1", survey_id=None, kind=None, score=score, comment=comment,
        feature=None, user_id=None, anonymous_id=None, account_id=None, partial=partial,
        message_id=message_id, responded_at=at, updated_at=at,
    )  # fmt: skip


def test_completion_wins_over_a_later_partial() -> None:
    complete = _response("m1", 10, partial=False, comment="ok")
    partial = _response("m2", 20, partial=True, score=4)
    for a, b in itertools.permutations([complete, partial]):
        merged = merge_responses(a, b)
        assert (merged.partial, merged.comment, merged.score) == (False, "ok", 4)
        assert (merged.message_id, merged.responded_at, merged.updated_at) == ("m1", 10, 10)


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.booleans(), st.sampled_from([None, "a", "b"])),
        min_size=1,
        max_size=6,
    ),
    st.randoms(),
)
def test_in_batch_collapse_ignores_arrival_order(events: list[tuple[int, bool, str | None]],
                                                 rnd: object) -> None:  # fmt: skip
    rows = [
        survey(f"m{i}", "r1", comment=comment, partial=partial, at=BASE_US + at)
        for i, (at, partial, comment) in enumerate(events)
    ]
    shuffled = list(rows)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert prepare_batch(table(*rows)).responses == prepare_batch(table(*shuffled)).responses
    collapsed = prepare_batch(table(*rows)).responses[(P, "r1")]
    # Each field comes from the highest-ranked event that has it.
    ranked = sorted(enumerate(events), key=lambda e: (not e[1][1], e[1][0], f"m{e[0]}"))
    comments = [comment for _, (_, _, comment) in ranked if comment is not None]
    assert collapsed.comment == (comments[-1] if comments else None)
    assert collapsed.partial == all(partial for _, partial, _ in events)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.booleans(),
            st.sampled_from([None, "a", "b"]),
            st.sampled_from([None, "en", "fr"]),
            st.one_of(st.none(), st.integers(0, 10)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_merging_is_associative_and_commutative(
    events: list[tuple[int, bool, str | None, str | None, int | None]],
) -> None:
    # Whatever order rows meet in and however they are grouped first (batches), the result
    # is the same: each field keeps the rank of the event that supplied it.
    rows = [
        msgspec.structs.replace(
            _response(f"m{i}", BASE_US + at, partial=partial, comment=comment, score=score),
            locale=locale,
        )
        for i, (at, partial, comment, locale, score) in enumerate(events)
    ]
    results = []
    for order in itertools.permutations(rows):
        results.append(functools.reduce(merge_responses, order))  # left fold
        results.append(functools.reduce(lambda acc, row: merge_responses(row, acc), order))
        if len(order) >= 3:  # (a + (b + c)) + ...
            inner = merge_responses(order[1], order[2])
            results.append(
                functools.reduce(merge_responses, order[3:], merge_responses(order[0], inner))
            )
    merged = results[0]
    assert all(result == merged for result in results)
    ranked = sorted(rows, key=lambda r: r.rank())
    for name in ("comment", "locale", "score"):
        values = [getattr(r, name) for r in ranked if getattr(r, name) is not None]
        assert getattr(merged, name) == (values[-1] if values else None)


def test_staged_field_ranks_are_a_postgresql_array_literal() -> None:
    low = _response('m"1\\', BASE_US, partial=True, comment="a")
    high = _response("m2", BASE_US + 1, partial=True)
    merged = merge_responses(low, high)
    assert merged.message_id == "m2"
    assert merged.field_ranks == (None, None, None, low.rank_key(), *[None] * 6)
    batch = PreparedBatch(responses={(P, "r1"): merged})
    [row] = _csv_rows(batch.response_csv())
    element = '"0' + f"{BASE_US + 10**18:019d}" + 'm\\"1\\\\"'  # m"1\ quoted and escaped
    assert row[-1] == "{NULL,NULL,NULL," + element + ",NULL,NULL,NULL,NULL,NULL,NULL}"


def test_partial_null_means_complete() -> None:
    row = track("m1", "Survey Responded", {"response_id": "r1", "score": 9, "partial": None})
    assert prepare_batch(table(row)).responses[(P, "r1")].partial is False


def _encodable(values: list[object]) -> None:
    for value in values:
        if isinstance(value, str):
            assert "\x00" not in value
            value.encode()  # asyncpg must be able to send it


def _staged(batch: PreparedBatch) -> list[bytes]:
    """Everything COPY sends for this batch."""
    return [
        batch.users.csv(),
        batch.user_traits.csv(),
        batch.accounts.csv(),
        batch.account_traits.csv(),
        batch.memberships.csv(),
        batch.response_csv(),
        batch.impression_csv(),
    ]


def _copyable(data: bytes) -> None:
    assert b"\x00" not in data
    data.decode()  # UTF-8 throughout: COPY must be able to read it


def _csv_rows(data: bytes) -> list[list[str | None]]:
    """CSV as COPY reads it: an unquoted empty field is NULL, a quoted one an empty string."""
    return [
        [
            None if field == "" else field[1:-1].replace('""', '"')
            for field in re.findall(r'(?:^|(?<=,))("(?:[^"]|"")*"|[^,"]*)(?=,|$)', line)
        ]
        for line in data.decode().splitlines()
    ]


def test_staged_rows_keep_empty_strings_apart_from_nulls_and_times_exact() -> None:
    batch = prepare_batch(
        table(
            track("m1", "A", user_id="u1", group_id="acc", at=BASE_US + 5),
            group("m2", "u1", "acc", {"name": 'Acme, "Inc"\nHQ'}, at=BASE_US + 3),
            survey("m3", "r1", score=2, comment="", at=BASE_US + 7),
        )
    )
    assert _csv_rows(batch.memberships.csv()) == [
        [P, "u1", "acc", str(BASE_US + 3), str(BASE_US + 5), str(BASE_US + 3)]
    ]
    [traits] = list(
        pa_csv.read_csv(
            pa.BufferReader(batch.account_traits.csv()),
            read_options=pa_csv.ReadOptions(column_names=["p", "a", "traits", "at"]),
        )
        .column("traits")
        .to_pylist()
    )
    assert msgspec.json.decode(traits) == {"name": 'Acme, "Inc"\nHQ'}
    [response] = _csv_rows(batch.response_csv())
    assert response[5] == ""  # the comment: an empty string, not NULL
    assert response[8] is None  # no anonymous id: NULL
    assert response[12:14] == [str(BASE_US + 7)] * 2


def test_everything_prepared_is_text_and_json_postgresql_accepts() -> None:
    comment = '{"response_id": "r1", "kind": "nps", "score": 3, "comment": "a\\u0000b\\ud800c"}'
    batch = prepare_batch(
        table(
            identify("m\x001", "u\x001", '{"n\\u0000": "\\udc00", "big": 1e400, "huge": 1e200000}'),
            group("m2", "u\x001", "acc\x00", '{"name": "\\ud83d\\ude00 ok"}'),
            track("m3", "Survey Responded", comment, user_id="u2", group_id="acc\x00"),
        )
    )
    assert batch.invalid == []
    assert list(batch.users) == [(P, "u\ufffd1"), (P, "u2")]
    assert list(batch.accounts) == [(P, "acc\ufffd")]
    for staged in _staged(batch):
        _copyable(staged)
    traits = batch.user_traits.traits[0]
    assert '"big":1E+400' in traits  # numeric holds it: still a number
    decoded = msgspec.json.Decoder(float_hook=Decimal).decode(traits)
    assert decoded["n\ufffd"] == "\ufffd"
    assert decoded["huge"] == "1E+200000"  # beyond numeric: kept, as text
    assert msgspec.json.decode(batch.account_traits.traits[0]) == {"name": "\U0001f600 ok"}
    row = batch.responses[(P, "r1")]
    assert (row.comment, row.account_id) == ("a\ufffdb\ufffdc", "acc\ufffd")


def test_a_double_overflowing_number_does_not_lose_the_traits() -> None:
    raw = '{"plan": "pro", "big": 1e400, "int": 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000}'
    batch = prepare_batch(table(identify("m1", "u1", raw)))
    assert batch.invalid == []
    # jsonb's numeric holds both: kept as numbers, exactly.
    [traits] = batch.user_traits.traits
    assert msgspec.json.Decoder(float_hook=Decimal).decode(traits) == {
        "plan": "pro",
        "big": Decimal("1e400"),
        "int": 10**400,
    }


def test_a_rating_without_response_id_is_keyed_by_its_message_id() -> None:
    # Other tools send ratings without our response_id: the event's messageId stands in.
    batch = prepare_batch(
        table(
            track("msg-7", "Survey Responded", {"kind": "csat", "score": 1}, user_id="u1"),
            track("msg-8", "Survey Responded", {"kind": "nps", "score": 10, "response_id": "r"}),
        )
    )
    assert batch.invalid == []
    assert set(batch.responses) == {(P, "msg-7"), (P, "r")}
    assert batch.responses[(P, "msg-7")].score == 1
    assert (P, "msg-7") in batch.detractor_responses


@settings(max_examples=300, deadline=None)
@given(hostile_rows())
def test_whatever_a_visitor_sends_prepares_into_values_postgresql_accepts(
    rows: list[tuple[object, ...]],
) -> None:
    batch = prepare_batch(table(*rows))
    for staged in _staged(batch):
        _copyable(staged)
    for column in batch.group_call_user_args():
        _encodable(column)
    for traits in [*batch.user_traits.traits, *batch.account_traits.traits]:
        # msgspec, like jsonb, refuses unpaired surrogate escapes; NUL escapes must be gone.
        decoded = msgspec.json.Decoder(float_hook=Decimal).decode(traits)
        assert "\\u0000" not in traits and "\x00" not in str(decoded)
        # Every number jsonb parses, duplicate keys' values too, fits numeric.
        every_pair = json.loads(
            traits, parse_float=Decimal, parse_int=Decimal, object_pairs_hook=lambda p: p
        )
        assert all(_within_numeric(n) for n in _numbers(every_pair)), traits
    assert [r.reason for r in batch.invalid] == []


def _numbers(value: object) -> list[Decimal]:
    if isinstance(value, Decimal):
        return [value]
    if isinstance(value, list | tuple):
        return [n for v in value for n in _numbers(v)]
    return []


def _within_numeric(number: Decimal) -> bool:
    # PostgreSQL numeric: fewer than 131072 digits before the point, at most 16383 after.
    exponent = number.as_tuple().exponent
    return isinstance(exponent, int) and number.adjusted() < 131072 and exponent >= -16383


def test_ids_with_nul_are_replaced_in_any_chunk_and_clean_ones_kept_as_they_are() -> None:
    clean = table(track("m1", "A", user_id="u1"))
    dirty = table(track("m2", "A", user_id="u\x002"))
    batch = prepare_batch(pa.concat_tables([clean, dirty]))  # two chunks, NUL in the second
    assert list(batch.users) == [(P, "u1"), (P, "u\ufffd2")]
    assert list(prepare_batch(clean).users) == [(P, "u1")]
