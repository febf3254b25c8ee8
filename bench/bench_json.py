"""msgspec against orjson on cxloop's JSON work, in the same run: which one to use where.

Per 50-event batch of the ingest bench (~26 KB) and per page of 100 API answers:

- decode to Python objects (``msgspec.json.decode`` / ``orjson.loads``);
- decode into typed, validated Structs (msgspec in one step; with orjson, ``loads`` and then
  ``msgspec.convert``, the only way to get the same validation);
- encode Python objects (``msgspec.json.encode`` / ``orjson.dumps``);
- encode Structs, as handlers return them (msgspec directly; orjson needs
  ``msgspec.to_builtins`` first).

Medians of ``--runs`` over ``--requests`` bodies; the ratio is orjson's time over msgspec's
(above 1: msgspec is faster).

Usage: python bench/bench_json.py [--requests 200] [--runs 7]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import build_bodies  # noqa: E402
from bench_ingest_paths import median_us  # noqa: E402


class Event(msgspec.Struct):
    """The fields ingest reads of an event; objects stay untyped, unknown keys are kept out."""

    type: str
    messageId: str
    timestamp: str
    event: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    properties: dict[str, Any] = {}
    context: dict[str, Any] = {}


class Batch(msgspec.Struct):
    batch: list[Event]
    sentAt: str | None = None


class Skipped(msgspec.Struct):
    """An object member only checked to be an object: msgspec skips its contents in C."""


class CheckedEvent(msgspec.Struct):
    """As ingest's check (``ingest/check.py``) decodes an event before the ack."""

    type: str
    messageId: str
    timestamp: str
    event: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    properties: Skipped | None = None
    context: Skipped | None = None


class CheckedBatch(msgspec.Struct):
    batch: list[CheckedEvent]
    sentAt: str | None = None


class AccountSummary(msgspec.Struct):
    """About what ``GET /v1/accounts`` answers per account."""

    account_id: str
    name: str
    plan: str
    score: float
    band: str
    confidence: str
    change: float | None
    as_of: str


class AccountPage(msgspec.Struct):
    accounts: list[AccountSummary]
    next_cursor: str | None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bodies = build_bodies(args.requests, 50, single=False)
    objects = [msgspec.json.decode(body) for body in bodies]
    pages = [
        AccountPage(
            accounts=[
                AccountSummary(
                    account_id=f"acct_{page}_{i}",
                    name=f"Account {i} 环球",
                    plan=("pro", "enterprise", "free")[i % 3],
                    score=37.5 + i % 60,
                    band=("green", "yellow", "red")[i % 3],
                    confidence="high",
                    change=None if i % 7 == 0 else -3.25,
                    as_of="2026-12-06",
                )
                for i in range(100)
            ],
            next_cursor="eyJrIjpbNjEuNSwiYWNjdF85OSJdfQ",
        )
        for page in range(args.requests)
    ]
    msgspec_decode = msgspec.json.Decoder()
    msgspec_typed = msgspec.json.Decoder(Batch)
    msgspec_checked = msgspec.json.Decoder(CheckedBatch)
    msgspec_encode = msgspec.json.Encoder().encode

    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "decode a batch to Python objects",
            lambda: [msgspec_decode.decode(b) for b in bodies],
            lambda: [orjson.loads(b) for b in bodies],
        ),
        (
            "decode a batch into typed Structs",
            lambda: [msgspec_typed.decode(b) for b in bodies],
            lambda: [msgspec.convert(orjson.loads(b), Batch) for b in bodies],
        ),
        (
            "the same, object members skipped (ingest)",
            lambda: [msgspec_checked.decode(b) for b in bodies],
            lambda: [msgspec.convert(orjson.loads(b), CheckedBatch) for b in bodies],
        ),
        (
            "encode a batch from Python objects",
            lambda: [msgspec_encode(o) for o in objects],
            lambda: [orjson.dumps(o) for o in objects],
        ),
        (
            "encode a page of 100 accounts (Structs)",
            lambda: [msgspec_encode(p) for p in pages],
            lambda: [orjson.dumps(msgspec.to_builtins(p)) for p in pages],
        ),
    ]
    # The two libraries must agree before their speed means anything.
    assert all(orjson.loads(b) == msgspec_decode.decode(b) for b in bodies)
    assert all(orjson.loads(msgspec_encode(p)) == msgspec.to_builtins(p) for p in pages)

    print(
        f"{'per request (µs, median of ' + str(args.runs) + ')':<42} {'msgspec':>9} {'orjson':>9} {'ratio':>6}"
    )
    for name, with_msgspec, with_orjson in cases:
        ours = median_us(with_msgspec, len(bodies), args.runs)
        theirs = median_us(with_orjson, len(bodies), args.runs)
        print(f"{name:<42} {ours:>9.1f} {theirs:>9.1f} {theirs / ours:>6.2f}")
    print(f"orjson {orjson.__version__}, msgspec {msgspec.__version__}")


if __name__ == "__main__":
    main()
