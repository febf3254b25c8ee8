"""What suppression of deleted subjects costs ingest, against a baseline measured in the same
run: the verdict on the same body (``check_request`` + ``verdict``), which every request pays.

Three cases on one ``--events``-event batch (browser-like events, ``--users`` users):
- a project without suppressions: the one dict lookup it pays;
- a project with suppressions, none named in the batch (one decode of the whole body);
- a project with suppressions, ``--named`` events of the batch naming one (the body is
  re-encoded without them and judged again).

Usage: python bench/bench_ingest_suppression.py [--events 100] [--users 20] [--named 5]
       [--rounds 2000]
Prints microseconds per batch and the ratio to the baseline. CPU only, a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import msgspec

from cxloop.ingest import Limits
from cxloop.ingest.check import check_request
from cxloop.ingest.suppress import suppress_subjects
from cxloop.projects import SuppressionList, subject_digest

LIMITS = Limits(max_event_bytes=32 * 1024, max_batch_events=2500)


def batch(events: int, users: int) -> bytes:
    return msgspec.json.encode(
        {
            "batch": [
                {
                    "type": "track",
                    "event": "Clicked",
                    "messageId": f"m-{i}",
                    "userId": f"user-{i % users}",
                    "anonymousId": f"anon-{i}",
                    "properties": {"button": "save", "index": i, "page": "/settings/billing"},
                    "context": {"groupId": "acme", "userAgent": "Mozilla/5.0", "locale": "en"},
                    "timestamp": "2026-01-01T00:00:00Z",
                }
                for i in range(events)
            ],
            "sentAt": "2026-01-01T00:00:01Z",
        }
    )


def per_call_us(call: Callable[[], object], rounds: int) -> float:
    """Median of five timings of ``rounds`` calls, in microseconds per call."""
    call()
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            call()
        samples.append((time.perf_counter() - started) / rounds * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--named", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    body = batch(args.events, args.users)
    checked = check_request(body, None, LIMITS)

    empty = SuppressionList()
    empty.add("other", [subject_digest("other", "user", "someone")])
    none_named = SuppressionList()
    none_named.add("p", [subject_digest("p", "user", "deleted-user")])
    # user-0 sends events 0, users, 2*users, ...: pick a users count giving --named events.
    named = SuppressionList()
    named.add("p", [subject_digest("p", "user", "user-0")])
    expected = len(range(0, args.events, args.users))

    def with_suppression(suppressions: SuppressionList) -> Callable[[], object]:
        def run() -> object:
            if not suppressions.active("p"):
                return checked.verdict("p", LIMITS)
            result = suppress_subjects(checked, "p", suppressions, LIMITS)
            if result is None:
                return checked.verdict("p", LIMITS)
            return result.verdict("p", LIMITS)

        return run

    result = suppress_subjects(checked, "p", named, LIMITS)
    assert result is not None and len(result.rejections) == expected
    baseline = per_call_us(
        lambda: check_request(body, None, LIMITS).verdict("p", LIMITS), args.rounds
    )
    lookup = per_call_us(lambda: empty.active("p"), args.rounds * 100)
    cases = {
        "no suppression in the project (lookup only)": lookup,
        "suppressions, none named": per_call_us(with_suppression(none_named), args.rounds),
        f"suppressions, {expected} of {args.events} named": per_call_us(
            with_suppression(named), args.rounds
        ),
    }
    print(f"baseline: check_request + verdict, {args.events} events: {baseline:.1f} µs")
    print("added to it, per batch:")
    for name, value in cases.items():
        print(f"  {name}: {value:.2f} µs ({value / baseline:.3f} × baseline)")


if __name__ == "__main__":
    main()
