"""uvicorn against granian, for cxloop's ingest and for the bare ceiling app, in one run.

Four servers, each one worker process on loopback, started in turn every round (the order
reversed every other round): the ceiling (``bench/ceiling_app.py``: msgspec decode, 200) and
cxloop's app (``bench/asgi_apps.py``: the worker's app with durable acks, no supervisor and
no pipeline) on uvicorn (httptools + uvloop; cxloop with its guarded protocol, as a worker
runs it) and on granian (``--interface asgi --loop uvloop``, one runtime thread).

Per server and round: wrk's closed-loop maximum (64 connections) for single events to
``/v1/track`` and 50-event batches to ``/v1/batch`` (requests/s, and CPU of the serving
process per request), then open-loop windows at fixed rates (``--single-rate`` requests/s,
``--batch-rate`` batches/s: the same for every server, so their p99s compare) measured from
the scheduled send time (``bench/loadgen.py``).

Usage: python bench/bench_asgi_servers.py [--rounds 3] [--seconds 8] [--latency-seconds 10]
           [--single-rate 3000] [--batch-rate 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_ingest as bi  # noqa: E402
from loadgen import open_loop  # noqa: E402
from loadgen import run as run_load  # noqa: E402

SERVERS = ("ceiling/uvicorn", "ceiling/granian", "cxloop/uvicorn", "cxloop/granian")

# cxloop on uvicorn as ``server/worker.py`` configures it (guarded protocol, no WebSocket).
_UVICORN_CXLOOP = """
import uvicorn
from cxloop.server.protocol import protocol_options
from cxloop.settings import Settings
import asgi_apps

settings = Settings.from_env()
uvicorn.run(
    asgi_apps.cxloop(), host="127.0.0.1", port={port}, loop="uvloop", lifespan="on",
    access_log=False, proxy_headers=False, log_level="warning", timeout_keep_alive=30,
    **protocol_options(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_opening_per_client=settings.max_opening_connections_per_client,
    ),
)
"""


def start(server: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    app, runner = server.split("/")
    if runner == "uvicorn" and app == "ceiling":
        return bi.start_ceiling(port)
    if runner == "uvicorn":
        command = [sys.executable, "-c", _UVICORN_CXLOOP.format(port=port)]
    else:
        target = "ceiling_app:app" if app == "ceiling" else "asgi_apps:cxloop"
        command = [
            sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--runtime-threads", "1", "--log-level", "warning", "--no-access-log",
            *(["--factory"] if app == "cxloop" else []), target,
        ]  # fmt: skip
    return subprocess.Popen(command, cwd=HERE, env=env, start_new_session=True)


def serving_pid(process: subprocess.Popen[bytes]) -> int:
    """granian serves from a child process; uvicorn (one worker) from itself."""
    import psutil

    children = psutil.Process(process.pid).children(recursive=True)
    return children[0].pid if children else process.pid


def latency(
    port: int, route: str, bodies: list[bytes], rate: float, seconds: int, auth: str
) -> Any:
    return run_load(
        open_loop(
            "127.0.0.1",
            port,
            route,
            bodies,
            rate=rate,
            seconds=seconds,
            connections=64,
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
    ).summary()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8, help="per wrk run")
    parser.add_argument("--latency-seconds", type=int, default=10)
    parser.add_argument("--single-rate", type=float, default=3000.0)
    parser.add_argument("--batch-rate", type=float, default=1000.0)
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args()
    servers = args.servers.split(",")

    from cxloop.db import database_url_for

    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxloop-servers-")))
        database_url = stack.enter_context(
            database_url_for(os.environ.get("DATABASE_URL"), tmp / "pg")
        )
        write_key = bi.create_project(database_url)
        auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        single_bodies = bi.build_bodies(5000, 1, single=True)
        batch_bodies = bi.build_bodies(1000, 50, single=False)
        files = {"single": tmp / "single.jsonl", "batch50": tmp / "batch.jsonl"}
        files["single"].write_bytes(b"\n".join(single_bodies) + b"\n")
        files["batch50"].write_bytes(b"\n".join(batch_bodies) + b"\n")
        for round_ in range(args.rounds):
            for server in servers if round_ % 2 == 0 else servers[::-1]:
                data_dir = tmp / "data"
                env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
                env |= {
                    "CXLOOP_DATA_DIR": str(data_dir),
                    "DATABASE_URL": database_url,
                    "CXLOOP_LOG_LEVEL": "WARNING",
                    "PYTHONPATH": os.pathsep.join([str(ROOT / "backend"), str(HERE)]),
                }
                port = bi.free_port()
                process = start(server, port, env)
                try:
                    ready = "/readyz" if server.startswith("cxloop") else "/"
                    bi.wait_http(f"http://127.0.0.1:{port}{ready}")
                    pid = serving_pid(process)
                    url = f"http://127.0.0.1:{port}"
                    bi.run_wrk(url + "/v1/track", files["single"], auth, 1, 64, pid)  # warm-up
                    figures: dict[str, Any] = {
                        kind: bi.run_wrk(url + route, files[kind], auth, args.seconds, 64, pid)
                        for kind, route in (("single", "/v1/track"), ("batch50", "/v1/batch"))
                    }
                    if args.latency_seconds:
                        time.sleep(1)
                        figures["single_latency"] = latency(
                            port, "/v1/track", single_bodies, args.single_rate,
                            args.latency_seconds, auth,
                        )  # fmt: skip
                        time.sleep(1)
                        figures["batch_latency"] = latency(
                            port, "/v1/batch", batch_bodies, args.batch_rate,
                            args.latency_seconds, auth,
                        )  # fmt: skip
                finally:
                    bi.stop(process)
                    shutil.rmtree(data_dir, ignore_errors=True)
                rows.append({"round": round_, "server": server, **figures})
                line = f"round {round_} {server:>16}: " + ", ".join(
                    f"{kind} {figures[kind]['rps']:,.0f} req/s "
                    f"{figures[kind]['cpu_us_per_request']:.1f} µs CPU"
                    for kind in ("single", "batch50")
                )
                if args.latency_seconds:
                    line += (
                        f"; p99 single {figures['single_latency']['p99_ms']} ms "
                        f"({figures['single_latency']['achieved_rps']}/s), batch "
                        f"{figures['batch_latency']['p99_ms']} ms "
                        f"({figures['batch_latency']['achieved_rps']}/s)"
                    )
                print(line, flush=True)

    def med(server: str, kind: str, key: str) -> float:
        return statistics.median(r[kind][key] for r in rows if r["server"] == server)

    def ratio(server: str, ceiling: str, kind: str) -> str:
        """Per round (the two ran minutes apart), then the median."""
        ceilings = {r["round"]: r[kind]["rps"] for r in rows if r["server"] == ceiling}
        per_round = [
            r[kind]["rps"] / ceilings[r["round"]]
            for r in rows
            if r["server"] == server and r["round"] in ceilings
        ]
        if not per_round:
            return "–"
        return f"{statistics.median(per_round):.2f} ({min(per_round):.2f}–{max(per_round):.2f})"

    print(
        "\n| server | single req/s | µs CPU/req | 50-event events/s | µs CPU/req "
        "| p99 single @ fixed rate | p99 batch @ fixed rate |"
    )
    print("|---|---|---|---|---|---|---|")
    for server in servers:
        p99s = ""
        if args.latency_seconds:
            p99s = " | ".join(
                f"{statistics.median(r[k]['p99_ms'] for r in rows if r['server'] == server)} ms"
                for k in ("single_latency", "batch_latency")
            )
        print(
            f"| {server} | {med(server, 'single', 'rps'):,.0f} "
            f"| {med(server, 'single', 'cpu_us_per_request'):.1f} "
            f"| {med(server, 'batch50', 'rps') * 50:,.0f} "
            f"| {med(server, 'batch50', 'cpu_us_per_request'):.1f} | {p99s} |"
        )
    print("\nratios (requests/s, per round, median (range)):")
    for kind in ("single", "batch50"):
        for a, b in (
            ("cxloop/uvicorn", "ceiling/uvicorn"),
            ("cxloop/granian", "ceiling/granian"),
            ("cxloop/granian", "ceiling/uvicorn"),
            ("cxloop/granian", "cxloop/uvicorn"),
            ("ceiling/granian", "ceiling/uvicorn"),
        ):
            if a in servers and b in servers:
                print(f"  {kind:>7} {a} / {b}: {ratio(a, b, kind)}")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"asgi-servers-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps({"args": vars(args), "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
