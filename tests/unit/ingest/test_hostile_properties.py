"""Hypothesis on the ingest decoders with what a hostile visitor sends: U+0000 and unpaired
surrogates, nesting up to 2,000 levels, numbers beyond a double and integers of thousands of
digits, repeated keys, unicode keys, non-objects where objects belong.

Properties: only :class:`IngestError` refuses a request whole; otherwise every event is
accepted or rejected with a typed reason; the fast verdict equals the reference verdict on the
logged body; the pipeline expands the log to one row per event with the same verdict; no full
address is stored; a valid neighbour always survives."""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cxloop.ingest import IngestError, Limits, parse_batch, parse_single, process_events
from cxloop.ingest.check import anonymise_body, check_request
from cxloop.ingest.expand import expand_requests
from cxloop.wal import REQUEST_SCHEMA, rows_to_batch

LIMITS = Limits(max_event_bytes=32 * 1024, max_batch_events=50)
RECEIVED = 1_795_000_000_000_000
ADDRESSES = ("203.0.113.77", "2001:db8::77")
REASONS = {
    "invalid_type",
    "missing_identity",
    "missing_event",
    "missing_group_id",
    "missing_previous_id",
    "invalid_field",
    "invalid_timestamp",
    "invalid_survey_response",
    "not_an_object",
    "event_too_large",
    "too_deep",
    "number_out_of_range",
    "invalid_character",
}
NEIGHBOUR = b'{"type":"track","event":"Kept","userId":"n1","messageId":"neighbour-1"}'
HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON text built as bytes, so it can hold what an encoder never writes: repeated keys,
# escaped surrogates, 1e400, integers longer than any decoder reads.
text_chars = st.one_of(
    st.characters(codec="utf-8", exclude_categories=["Cs"]),
    st.sampled_from(["\0", "\\", '"', "{", "]", "i", "p"]),
)
texts = st.text(text_chars, max_size=6).map(lambda s: msgspec.json.encode(s))
# Unpaired surrogates refuse the whole body (no decoder reads them): kept rare.
strings = st.one_of(
    texts,
    texts,
    texts,
    st.sampled_from([rb'"\u0000"', rb'"a\u0000"', rb'"\u0069p"', rb'"\u0000"', rb'"b\u0000"']),
    st.sampled_from([rb'"\ud800"', rb'"\udc00x"'] + [b'"x"'] * 60),
)
numbers = st.one_of(
    st.integers().map(lambda n: str(n).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.sampled_from([b"1e400", b"-1E+999", b"1" + b"0" * 400, b"9" * 5_000, b"1e-400"]),
)
addresses = st.sampled_from([b'"203.0.113.77"', b'"2001:db8::77"', b'"not an ip"', b"7"])


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


# Any depth up to 2,000, around the limits (500 always accepted; ~950 the decoder's reach).
depths = st.one_of(st.integers(1, 2_000), st.integers(400, 1_100), st.integers(950, 2_000))
deep = depths.map(nested) | depths.map(lambda depth: b"[" * depth + b"]" * depth)
scalars = st.one_of(st.sampled_from([b"null", b"true", b"false"]), numbers, strings)


def json_object(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"{" + b",".join(key + b":" + value for key, value in pairs) + b"}"


values = st.recursive(
    scalars | deep,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: b"[" + b",".join(items) + b"]"),
        st.lists(st.tuples(strings, inner), max_size=3).map(json_object),
    ),
    max_leaves=6,
)
contexts = st.lists(
    st.one_of(
        st.tuples(st.sampled_from([b'"ip"', rb'"\u0069p"', rb'"i\u0070"']), addresses),
        st.tuples(st.sampled_from([b'"groupId"', b'"page"']), values),
    ),
    max_size=3,  # a repeated "ip" included
).map(json_object)
times = st.sampled_from(
    [
        b'"2026-01-01T00:00:00Z"',
        b'"0001-01-01T00:00:00+23:59"',
        b'"9999-12-31T23:59:59-23:59"',
        b'"0001-01-01"',
        b"1e400",
    ]
)
ids = st.one_of(strings, numbers, st.sampled_from([b'"u1"', b"null"]))
fields = {
    b'"type"': st.sampled_from([b'"track"', b'"identify"', b'"group"', b'"alias"']) | strings,
    b'"event"': st.sampled_from([b'"E"', b'"Survey Responded"']) | strings,
    b'"name"': strings,
    b'"userId"': ids,
    b'"anonymousId"': ids,
    b'"groupId"': ids,
    b'"previousId"': ids,
    b'"messageId"': ids,
    b'"properties"': values
    | st.builds(
        lambda score, extra: b'{"survey_id":"s","kind":"nps","score":' + score + extra + b"}",
        numbers | strings,
        st.sampled_from([b"", b',"response_id":"r"', rb',"response_id":"\u0000"']),
    ),
    b'"traits"': values,
    b'"context"': contexts | values,
    b'"integrations"': values,
    b'"timestamp"': times,
    b'"sentAt"': times,
}
members = st.one_of(
    *[st.tuples(st.just(key), strategy) for key, strategy in fields.items()],
    st.tuples(strings, values),  # any key at all: unknown fields
)
BASE = [(b'"type"', b'"track"'), (b'"event"', b'"E"'), (b'"userId"', b'"u"')]
events = st.one_of(
    st.lists(members, max_size=8).map(lambda pairs: json_object(BASE + pairs)),  # repeats
    st.lists(members, max_size=8).map(json_object),
    st.builds(lambda d: json_object([*BASE, (b'"properties"', d)]), deep),
    values,  # not an object
)
batch_bodies = st.builds(
    lambda items, envelope: (
        b'{"batch":['
        + b",".join([*items, NEIGHBOUR])
        + b"]"
        + b"".join(b"," + key + b":" + value for key, value in envelope)
        + b"}"
    ),
    st.lists(events, max_size=5),
    st.lists(
        st.one_of(
            st.tuples(st.just(b'"context"'), contexts),  # repeated contexts included
            st.tuples(st.sampled_from([b'"integrations"', b'"x"']), values),
        ),
        max_size=2,
    ),
)


def judged(body: bytes, route: str | None) -> Any:
    """The ack's verdict and the logged body, or the refusal of the whole request."""
    try:
        checked = check_request(body, route, LIMITS)
        if checked.has_ip:
            checked = anonymise_body(checked, LIMITS)
    except IngestError as error:
        assert 400 <= error.status < 500 and error.code and error.message
        event(f"refused whole: {error.code}")
        return None
    accepted, rejected = checked.verdict("p", LIMITS)
    return checked, accepted, rejected


def reference(body: bytes, route: str | None) -> tuple[int, list[Any]]:
    request = parse_batch(body, LIMITS) if route is None else parse_single(body, route, LIMITS)
    result = process_events(
        request, project_id="p", received_at_us=0, client_ip=None, limits=LIMITS
    )
    return result.accepted, result.rejected


def expanded(checked: Any, accepted: int) -> list[dict[str, Any]]:
    record = ("p", RECEIVED, "198.51.100.0", checked.route_type, checked.body, checked.events,
              accepted, LIMITS.max_event_bytes)  # fmt: skip
    table = expand_requests(pa.Table.from_batches([rows_to_batch([record], REQUEST_SCHEMA)]))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def holds_the_properties(body: bytes, route: str | None) -> tuple[int, list[Any]] | None:
    outcome = judged(body, route)
    if outcome is None:
        return None
    checked, accepted, rejected = outcome
    assert accepted + len(rejected) == checked.events
    assert {r.reason for r in rejected} <= REASONS, rejected
    for reason in sorted({r.reason for r in rejected}):
        event(f"rejected: {reason}")
    event(f"fast path: {checked.reference is None}")
    assert (accepted, rejected) == reference(checked.body, route)  # fast == reference
    rows = expanded(checked, accepted)
    assert len(rows) == checked.events
    assert [row["failure_reason"] for row in rows if row["failure_reason"]] == [
        r.reason for r in rejected
    ]
    stored = checked.body.decode() + repr(rows)
    assert not any(address in stored for address in ADDRESSES)
    return accepted, rejected


@HOSTILE
@given(batch_bodies)
def test_hostile_batches_get_a_verdict_per_event_and_keep_the_valid_neighbour(body: bytes) -> None:
    outcome = holds_the_properties(body, None)
    if outcome is not None:
        _, rejected = outcome
        # Only a batch-level context.groupId the neighbour inherits can reject it.
        assert all(
            r.detail.startswith("context.groupId") for r in rejected if r.messageId == "neighbour-1"
        )


@HOSTILE
@given(
    st.one_of(
        st.lists(members, max_size=8).map(lambda pairs: json_object(BASE + pairs)),
        st.builds(lambda d: json_object([*BASE, (b'"traits"', d)]), deep),
    ),
    st.sampled_from(["track", "identify"]),
)
def test_hostile_single_events_get_a_verdict(body: bytes, route: str) -> None:
    holds_the_properties(body, route)
