"""Whatever headers a visitor sends, ingest answers with a status it documents, never 500,
and always with CORS (the ASGI app called directly, so any header bytes can be sent)."""

from __future__ import annotations

import base64
import gzip

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.ingest_app import WRITE_KEY, IngestApp, asgi_request, ingest_app

BATCH = msgspec.json.encode(
    {"batch": [{"type": "track", "userId": "u1", "event": "Clicked"}], "writeKey": WRITE_KEY}
)
DOCUMENTED = {200, 204, 400, 401, 405, 408, 413, 415, 429, 503}
# Built once: an app per example would make the search ten times slower.
APPS = {trusted: ingest_app(trust_forwarded_for=trusted) for trusted in (False, True)}


async def call(
    app: IngestApp, headers: list[tuple[bytes, bytes]], body: bytes, method: str = "POST"
) -> tuple[int, dict[bytes, bytes], bytes]:
    status, answer_headers, answer = await asgi_request(app.app, "/v1/batch", method, headers, body)
    return status, dict(answer_headers), answer


def assert_documented(status: int, headers: dict[bytes, bytes], body: bytes) -> None:
    assert status in DOCUMENTED, (status, body)
    assert headers[b"access-control-allow-origin"] == b"*"
    if status >= 400:
        answer = msgspec.json.decode(body)
        assert answer["code"] and answer["message"]


def basic_of(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


def any_bytes_or(max_size: int, odd: list[bytes]) -> st.SearchStrategy[bytes]:
    """Any bytes up to ``max_size``, or one of the ``odd`` values that have tripped parsers."""
    return st.one_of(st.binary(max_size=max_size), st.sampled_from(odd))


authorization = st.one_of(
    st.binary(max_size=60),
    st.binary(max_size=40).map(lambda b: b"Basic " + b),
    st.binary(max_size=40).map(basic_of),
    st.sampled_from(
        [
            basic_of(WRITE_KEY.encode() + b":"),
            basic_of(b"wk_\x00nul:"),
            basic_of("wk_ключ:".encode()),
            basic_of(b"\xff\xfe:"),
            b"Basic \xc3\xa9t\xc3\xa9",
            b"Basic \x00",
            b"Basic ====",
            b"Bearer sk_x",
            b"basic",
            b"Basic " + b"A" * 5000,
        ]
    ),
)
encoding = any_bytes_or(
    20,
    [
        b"gzip",
        b"GZIP",
        b" x-gzip ",
        b"deflate",
        b"identity",
        b"",
        b"br",
        b"gzip, deflate",
        b"gzip\x00",
        b"\xe9",
    ],
)
length = any_bytes_or(
    12,
    [
        b"-1",
        b"abc",
        b"1e3",
        b"99999999999999999999999",
        b"0",
        b" 5",
        b"\xb2",
        b"\xbd",
        b"\xef\xbc\x95",
        b"+5",
        b"0x10",
    ],
)
header_names = st.sampled_from(
    [
        b"authorization",
        b"content-encoding",
        b"content-length",
        b"x-forwarded-for",
        b"x-request-id",
        b"access-control-request-headers",
        b"content-type",
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
    headers: list[tuple[bytes, bytes]] = []
    for name in draw(st.lists(header_names, max_size=6)):
        value = {
            b"authorization": authorization,
            b"content-encoding": encoding,
            b"content-length": length,
        }.get(name, st.binary(max_size=30))
        headers.append((name, draw(value)))
    body = draw(st.sampled_from([BATCH, gzip.compress(BATCH), b"", b"\x00\xff{", b"[]"]))
    method = draw(st.sampled_from(["POST", "POST", "POST", "OPTIONS", "GET", "PUT"]))
    return method, headers, body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests(), trusted=st.booleans())
async def test_any_headers_get_a_documented_answer_with_cors(
    request: tuple[str, list[tuple[bytes, bytes]], bytes], trusted: bool
) -> None:
    method, headers, body = request
    assert_documented(*await call(APPS[trusted], headers, body, method))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(b"authorization", b"Basic \xc3\xa9t\xc3\xa9")], 200),  # not a Basic key: body key
        ([(b"authorization", basic_of(b"\xff\xfe:"))], 200),
        ([(b"authorization", basic_of(b"wk_\x00nul:"))], 401),
        ([(b"content-length", b"\xb2")], 200),  # '²'.isdigit() but not a length
        ([(b"content-length", b"999999999999999999999")], 413),
        ([(b"content-length", b"9" * 5000)], 413),
        ([(b"content-length", b"9999999"), (b"content-length", b"1")], 413),  # the first
        ([(b"content-encoding", b"gzip\x00")], 415),
        ([(b"x-forwarded-for", b"\xff, ::1")], 200),
    ],
)
async def test_odd_headers(headers: list[tuple[bytes, bytes]], status: int) -> None:
    app = ingest_app(trust_forwarded_for=True)
    answer = await call(app, headers, BATCH)
    assert_documented(*answer)
    assert answer[0] == status, answer
