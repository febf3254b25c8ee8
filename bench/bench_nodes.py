"""Throughput of a cxloop cluster with 1, 2 and 3 nodes on this machine (issue 19).

Each round starts ``N`` ``cxloop serve --workers 1`` nodes (tests/helpers/cluster.py: cluster
mode, one PostgreSQL, one lake on a local S3 API served by moto, or ``--lake directory``), then
one ``wrk`` per node sends 50-event batches (browser-sized events, every messageId new: a Lua
script numbers them) for ``--seconds`` with ``--connections`` in all, split across the nodes.
After the load it waits until every node's WAL is worked off (in the lake and PostgreSQL).

Printed per round: events/s acked (wrk's 200s × 50 over the load time), events/s into the lake
(rows in the lake over the time from the start of the load to the last node drained), the
speed-up against the 1-node round (``rate_N / rate_1``) and the per-node efficiency
(``rate_N / (N × rate_1)``: on one 2-core machine more nodes only share the same cores, so
this measures what the cluster machinery costs, not how it scales on separate machines), CPU-µs per event of the nodes, of PostgreSQL
and of the S3 server, and PostgreSQL CPU-seconds per node per million events.

    python bench/bench_nodes.py [--nodes 1,2,3] [--seconds 10] [--connections 24]
        [--lake s3|directory] [--json]

Loopback only; PostgreSQL is ``DATABASE_URL``'s server or an embedded one made for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import psutil  # noqa: E402

from benchlib import (  # noqa: E402
    bench_postgres,
    drop_database,
    postgres_cpu,
    realistic_event,
    stop_cleanly_on_signals,
    tree_cpu,
    with_database,
)
from tests.helpers.cluster import Cluster, running_cluster  # noqa: E402
from tests.helpers.s3 import S3Server, s3_server  # noqa: E402
from tests.helpers.server import create_project  # noqa: E402

EVENTS_PER_BODY = 50
MARK = "@@MID@@"

# One 50-event body with a placeholder for each messageId; every request fills them with
# "<prefix>-<thread>-<request>-<j>", so no event is ever a replay the dedupe would drop.
WRK_SCRIPT = r"""
local parts = {}
local prefix = "x"
local counter = 0
local thread_id = 0
local threads = 0

setup = function(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

init = function(args)
  prefix = args[2]
  local body = io.open(args[1]):read("*a")
  local start = 1
  while true do
    local i, j = string.find(body, "@@MID@@", start, true)
    if not i then break end
    parts[#parts + 1] = string.sub(body, start, i - 1)
    start = j + 1
  end
  parts[#parts + 1] = string.sub(body, start)
end

request = function()
  counter = counter + 1
  local out = {}
  for j = 1, #parts - 1 do
    out[#out + 1] = parts[j]
    out[#out + 1] = prefix .. "-" .. thread_id .. "-" .. counter .. "-" .. j
  end
  out[#out + 1] = parts[#parts]
  return wrk.format("POST", nil, nil, table.concat(out))
end
"""

# Production defaults but: no free-disk floor on a shared machine, write keys learnt quickly,
# the health refresh off (it is not what is measured).
BENCH_SETTINGS = {"min_free_bytes": 0, "key_refresh_s": 0.5, "health_refresh_s": 0}


@dataclass
class Round:
    nodes: int
    seconds: float
    acked_events: int
    refused_requests: int
    acked_per_s: float
    drained_s: float  # load start → every node's WAL worked off
    lake_events: int
    lake_per_s: float
    node_cpu_us_per_event: float
    postgres_cpu_us_per_event: float
    s3_cpu_us_per_event: float
    postgres_cpu_s_per_node_per_million: float
    postgres_cores_per_node: float  # PostgreSQL CPU-s per second of the round, per node
    lake_mb_per_million: float  # bytes of the events store's live files per million events
    load_average: float  # the machine's 1-minute load average as the round started
    efficiency_acked: float = 1.0  # rate_N / rate_1: the cluster's speed-up
    efficiency_lake: float = 1.0
    per_node_acked: float = 1.0  # rate_N / (N × rate_1): each node against a lone node
    per_node_lake: float = 1.0


def body_template(path: Path) -> Path:
    events = [realistic_event(i) for i in range(EVENTS_PER_BODY)]
    for event in events:
        event["messageId"] = MARK
    path.write_text(json.dumps({"batch": events}, separators=(",", ":")))
    return path


def moto_pid(s3: S3Server | None) -> int | None:
    if s3 is None:
        return None
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "moto.server" in cmdline and str(port) in cmdline:
            return process.pid
    return None


def run_wrk(
    url: str, template: Path, script: Path, prefix: str, seconds: float, connections: int, auth: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-H", f"Authorization: {auth}",
         "-H", "Content-Type: application/json", "-s", str(script), f"{url}/v1/batch",
         "--", str(template), prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def wrk_figures(out: str) -> tuple[int, int]:
    """Requests answered and those not 2xx, from wrk's summary."""
    found = re.search(r"(\d+) requests in", out)
    if found is None:
        raise RuntimeError(f"wrk failed:\n{out}")
    refused = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return int(found.group(1)), int(refused.group(1)) if refused else 0


def wait_drained(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(node.in_flight() for node in cluster.nodes.values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the nodes did not drain within {timeout} s")
        time.sleep(0.2)


def lake_rows(cluster: Cluster) -> tuple[int, int]:
    """Events in the lake as cxloop reads it, and the bytes of the files holding them."""
    snapshot = cluster.lake()  # also checks: every event once as cxloop reads the lake
    duplicates = snapshot.duplicates()
    if duplicates:
        raise RuntimeError(f"{len(duplicates)} events in the lake twice")
    live = [path for path in snapshot.rows if path not in snapshot.shadowed]
    fs = cluster.filesystem()
    size = sum(info.size or 0 for info in fs.get_file_info(live))
    return sum(len(snapshot.rows[path]) for path in live), size


def one_round(
    nodes: int,
    args: argparse.Namespace,
    server_url: str,
    postmaster: int | None,
    s3: S3Server | None,
    tmp: Path,
) -> Round:
    import base64

    name = f"cxloop_nodes_{nodes}_{int(time.time())}"
    asyncio.run(_create(server_url, name))
    database_url = with_database(server_url, name)
    try:
        project = create_project(database_url, "bench")
        auth = "Basic " + base64.b64encode(f"{project.write_key}:".encode()).decode()
        template = body_template(tmp / "body.json")
        script = tmp / "unique_ids.lua"
        script.write_text(WRK_SCRIPT)
        lake: Literal["s3", "directory"] = "s3" if s3 is not None else "directory"
        settings = {**BENCH_SETTINGS, **dict(item.split("=", 1) for item in args.setting)}
        with running_cluster(
            nodes, tmp / f"nodes-{nodes}", database_url, lake=lake, s3=s3, **settings
        ) as cluster:
            time.sleep(1.5)  # the nodes learn the new write key
            node_pids = [n.server.process.pid for n in cluster.nodes.values() if n.server]
            moto = moto_pid(s3)
            load_average = os.getloadavg()[0]
            cpu_before = (
                sum(tree_cpu(p) for p in node_pids),
                postgres_cpu(postmaster),
                tree_cpu(moto) if moto else 0.0,
            )
            started = time.monotonic()
            share = max(1, args.connections // nodes)
            loads = [
                run_wrk(n.url, template, script, f"{n.node_id}r{nodes}", args.seconds, share, auth)
                for n in cluster.nodes.values()
            ]
            outputs = [load.communicate()[0] for load in loads]
            loaded = time.monotonic() - started
            wait_drained(cluster, timeout=max(120.0, 20 * args.seconds))
            drained = time.monotonic() - started
            cpu_after = (
                sum(tree_cpu(p) for p in node_pids),
                postgres_cpu(postmaster),
                tree_cpu(moto) if moto else 0.0,
            )
            lake_events, lake_bytes = lake_rows(cluster)
    finally:
        asyncio.run(drop_database(server_url, database_url))
    answered = [wrk_figures(out) for out in outputs]
    acked = sum(requests - refused for requests, refused in answered) * EVENTS_PER_BODY
    events = max(lake_events or acked, 1)
    node_cpu, pg_cpu, s3_cpu = (
        after - before for after, before in zip(cpu_after, cpu_before, strict=True)
    )
    return Round(
        nodes=nodes,
        seconds=round(loaded, 2),
        acked_events=acked,
        refused_requests=sum(refused for _, refused in answered),
        acked_per_s=round(acked / loaded),
        drained_s=round(drained, 2),
        lake_events=lake_events,
        lake_per_s=round(lake_events / drained),
        node_cpu_us_per_event=round(node_cpu / events * 1e6, 1),
        postgres_cpu_us_per_event=round(pg_cpu / events * 1e6, 1),
        s3_cpu_us_per_event=round(s3_cpu / events * 1e6, 1),
        postgres_cpu_s_per_node_per_million=round(pg_cpu / nodes / events * 1e6, 2),
        postgres_cores_per_node=round(pg_cpu / drained / nodes, 3),
        lake_mb_per_million=round(lake_bytes / events, 1),
        load_average=round(load_average, 2),
    )


async def _create(server_url: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default="1,2,3", help="node counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="load per round")
    parser.add_argument("--connections", type=int, default=24, help="in all, split by node")
    parser.add_argument("--lake", choices=["s3", "directory"], default="s3")
    parser.add_argument("--json", action="store_true", help="one JSON document at the end")
    parser.add_argument(
        "--setting", action="append", default=[], help="NAME=VALUE: a node's CXLOOP_NAME"
    )
    args = parser.parse_args()
    stop_cleanly_on_signals()
    counts = [int(n) for n in args.nodes.split(",")]
    rounds: list[Round] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxloop-nodes-")))
        server_url, postmaster = bench_postgres(
            stack, os.environ.get("DATABASE_URL"), None, tmp, "pg-"
        )
        s3 = stack.enter_context(s3_server()) if args.lake == "s3" else None
        for nodes in counts:
            rounds.append(one_round(nodes, args, server_url, postmaster, s3, tmp))
            base = rounds[0]
            rounds[-1].efficiency_acked = _ratio(rounds[-1].acked_per_s, base.acked_per_s)
            rounds[-1].efficiency_lake = _ratio(rounds[-1].lake_per_s, base.lake_per_s)
            rounds[-1].per_node_acked = _ratio(rounds[-1].acked_per_s, nodes * base.acked_per_s)
            rounds[-1].per_node_lake = _ratio(rounds[-1].lake_per_s, nodes * base.lake_per_s)
            if not args.json:
                print(_line(rounds[-1], args.lake), flush=True)
    if args.json:
        print(json.dumps({"lake": args.lake, "rounds": [asdict(r) for r in rounds]}, indent=2))


def _ratio(value: float, base: float) -> float:
    return round(value / base, 3) if base else float("nan")


def _line(r: Round, lake: str) -> str:
    return (
        f"{r.nodes} node(s), {lake} lake, load average {r.load_average}: acked "
        f"{r.acked_per_s:,} ev/s (×{r.efficiency_acked} of 1 node, per node ×{r.per_node_acked}), "
        f"lake {r.lake_per_s:,} ev/s (×{r.efficiency_lake}, per node ×{r.per_node_lake}; drained {r.drained_s} s after {r.seconds} s of load; "
        f"{r.lake_events:,} events, {r.refused_requests} refused); CPU-µs/event: nodes "
        f"{r.node_cpu_us_per_event}, PostgreSQL {r.postgres_cpu_us_per_event}, S3 "
        f"{r.s3_cpu_us_per_event}; PostgreSQL CPU-s per node per million events "
        f"{r.postgres_cpu_s_per_node_per_million} ({r.postgres_cores_per_node} cores per node); "
        f"lake {r.lake_mb_per_million} MB per million events (wrk repeats one body: far below real traffic)"
    )


if __name__ == "__main__":
    main()
