"""Gzip bodies of several members (RFC 1952) are accepted within the same size cap."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.ingest import IngestError
from cxloop.ingest.service import MAX_GZIP_MEMBERS, decompress
from tests.helpers.ingest_app import WRITE_KEY, ingest_app

LIMIT = 1000


def members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(part, mtime=0) for part in parts)


def refusal(body: bytes, encoding: str = "gzip", limit: int = LIMIT) -> tuple[int, str]:
    with pytest.raises(IngestError) as caught:
        decompress(body, encoding, limit)
    assert caught.value.message
    return caught.value.status, caught.value.code


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8))
def test_members_decompress_to_their_concatenation_within_the_cap(parts: list[bytes]) -> None:
    body = members(*parts)
    whole = b"".join(parts)
    if len(whole) <= LIMIT:
        assert decompress(body, "gzip", LIMIT) == whole
    else:
        assert refusal(body) == (413, "request_too_large")


def test_the_cap_is_on_the_total_of_all_members() -> None:
    assert decompress(members(b"a" * 500, b"b" * 500), "gzip", LIMIT) == b"a" * 500 + b"b" * 500
    assert refusal(members(b"a" * 500, b"b" * 501)) == (413, "request_too_large")


def test_a_bomb_in_a_later_member_stops_early() -> None:
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    # Stopping early is measured in memory, which a busy machine cannot blur: inflating the
    # bomb would hold 200 MiB, the refusal holds about the limit.
    tracemalloc.start()
    try:
        assert refusal(members(b"x" * 10) + bomb, limit=500 * 1024) == (413, "request_too_large")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak


@pytest.mark.parametrize(
    ("body", "encoding", "expected"),
    [
        (members(b"a") + b"garbage", "gzip", (400, "invalid_gzip")),
        (members(b"a") + members(b"b")[:-4], "gzip", (400, "invalid_gzip")),
        (members(b"a") + b"\x1f\x8b\x08broken", "gzip", (400, "invalid_gzip")),
        (zlib.compress(b"a") + zlib.compress(b"b"), "deflate", (400, "invalid_gzip")),
        (members(*[b"x"] * (MAX_GZIP_MEMBERS + 1)), "gzip", (400, "invalid_gzip")),
    ],
    ids=["trailing garbage", "truncated member", "broken member", "deflate twice", "too many"],
)
def test_what_follows_a_member_must_be_a_member(
    body: bytes, encoding: str, expected: tuple[int, str]
) -> None:
    assert refusal(body, encoding) == expected


def test_zero_padding_after_the_last_member_is_ignored() -> None:
    assert decompress(members(b"a", b"b") + b"\0" * 16, "gzip", LIMIT) == b"ab"
    assert decompress(members(*[b"x"] * MAX_GZIP_MEMBERS), "gzip", LIMIT) == b"x" * 256


async def test_a_multi_member_batch_is_acked() -> None:
    events = [
        {"type": "track", "userId": "u1", "event": "Clicked", "messageId": f"m{i}"}
        for i in range(3)
    ]
    raw = msgspec.json.encode({"batch": events, "writeKey": WRITE_KEY})
    app = ingest_app()
    async with app.client() as client:
        response = await client.post(
            "/v1/batch",
            content=members(raw[:10], raw[10:40], raw[40:]),
            headers={"Content-Encoding": "gzip"},
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "rejected": []}
    [record] = app.writer.records
    assert record[4] == raw
