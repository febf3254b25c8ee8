"""In-process CPU cost of one ingest request at the ASGI boundary: everything the worker does
between uvicorn handing over the request and the answer, minus HTTP parsing and the disk.

The ingest routes in a Litestar app with the app's ``before_send`` security headers, called
the way uvicorn calls the worker's app, over the real ``IngestService`` with an in-memory
write-ahead log (no fsync: the same in every tree) and the tests' in-memory key resolver:

  * ``route``: through Litestar (router, exception layer, ``before_send``), as before issue 18;
  * ``front``: through ``IngestFront`` (only in a tree that has it).

CPU time of this thread per request, medians of ``--blocks`` blocks of ``--requests``; run it
from each tree (``PYTHONPATH=<tree>/backend``) alternately to compare trees, e.g.
``for i in 1 2 3; do for t in A B; do PYTHONPATH=$t/backend python bench/bench_ingest_asgi.py;
done; done``. Single events (``/v1/track``, ~450 bytes) and 50-event batches (``/v1/batch``),
the ingest bench's payloads, with the headers a browser sends.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from litestar import Litestar  # noqa: E402

from bench_ingest import build_bodies  # noqa: E402
from cxloop.api.headers import security_headers  # noqa: E402
from cxloop.ingest import asgi as ingest_asgi  # noqa: E402
from cxloop.ingest.parse import Limits  # noqa: E402
from cxloop.ingest.service import IngestService, RateLimiter  # noqa: E402
from cxloop.ops.metrics import Registry  # noqa: E402
from cxloop.wal import WalWriter  # noqa: E402

WRITE_KEY = "wk_bench"


class _Keys:
    def resolve(self, write_key: str) -> str | None:
        return "prj_bench" if write_key == WRITE_KEY else None

    async def resolve_miss(self, write_key: str) -> str | None:
        return None


class _Log:
    """An in-memory log: append returns at once (the disk is not what is measured here)."""

    def __init__(self) -> None:
        self.rows = 0

    async def append(self, rows: Sequence[Any], events: int | None = None) -> None:
        self.rows += len(rows)


def browser_headers(length: int) -> list[tuple[bytes, bytes]]:
    auth = b"Basic " + base64.b64encode(f"{WRITE_KEY}:".encode())
    return [
        (b"host", b"ingest.example.com"),
        (b"connection", b"keep-alive"),
        (b"content-length", str(length).encode()),
        (b"sec-ch-ua-platform", b'"Linux"'),
        (b"authorization", auth),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0"),
        (b"content-type", b"application/json"),
        (b"accept", b"*/*"),
        (b"origin", b"https://app.example.com"),
        (b"sec-fetch-site", b"cross-site"),
        (b"sec-fetch-mode", b"cors"),
        (b"sec-fetch-dest", b"empty"),
        (b"referer", b"https://app.example.com/"),
        (b"accept-encoding", b"gzip, deflate, br, zstd"),
        (b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.8"),
    ]


async def measure(app: Any, path: str, bodies: list[bytes], requests: int) -> float:
    """CPU µs of this thread per request."""

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"{path}: {message['status']}")

    started = time.thread_time()
    for i in range(requests):
        body = bodies[i % len(bodies)]
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive(message: Any = message) -> Any:
            return message

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 50000 + i % 64),
            "scheme": "http",
            "method": "POST",
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": browser_headers(len(body)),
            "state": {},
        }
        await app(scope, receive, send)
    return (time.thread_time() - started) / requests * 1e6


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    service = IngestService(
        writer=cast(WalWriter, _Log()),
        keys=_Keys(),  # type: ignore[arg-type]
        registry=Registry(),
        limits=Limits(),
        max_request_bytes=500 * 1024,
        rate_limiter=RateLimiter(0),
    )
    app = Litestar(
        route_handlers=ingest_asgi.ingest_handlers(),
        before_send=[security_headers],
        logging_config=None,
    )
    app.state[ingest_asgi.INGEST_STATE_KEY] = service
    modes: dict[str, Any] = {"route": app}
    front = getattr(ingest_asgi, "IngestFront", None)
    if front is not None:
        modes["front"] = front(app, app)
    payloads = {
        "single": ("/v1/track", build_bodies(500, 1, single=True)),
        "batch50": ("/v1/batch", build_bodies(40, 50, single=False)),
    }
    out: dict[str, Any] = {}
    for kind, (path, bodies) in payloads.items():
        requests = args.requests if kind == "single" else max(args.requests // 10, 50)
        samples: dict[str, list[float]] = {mode: [] for mode in modes}
        for handler in modes.values():  # warm-up
            await measure(handler, path, bodies, requests // 4)
        for block in range(args.blocks):
            order = list(modes) if block % 2 == 0 else list(modes)[::-1]
            for mode in order:
                samples[mode].append(await measure(modes[mode], path, bodies, requests))
        out[kind] = {mode: round(statistics.median(s), 2) for mode, s in samples.items()}
        out[kind + "_ranges"] = {
            mode: [round(min(s), 2), round(max(s), 2)] for mode, s in samples.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="single events per block")
    parser.add_argument("--blocks", type=int, default=7)
    args = parser.parse_args()
    import uvloop

    out = uvloop.run(main_async(args))
    out["tree"] = str(Path(ingest_asgi.__file__).resolve().parents[3])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
