"""What a back-pressure refusal (503 ``pipeline_behind``) costs the worker, against an ack.

While ingest refuses, the refusals are what the worker spends its CPU on, and the pipeline
(``SCHED_IDLE``) only gets what is left: a refusal must be much cheaper than an ack. Two
servers in turn over an embedded PostgreSQL, one worker each, ``wrk`` closed loop with the
same 50-event batches for ``--seconds``:

* *ack*: back-pressure off, every request acked;
* *refuse*: ``CXLOOP_WAL_BACKLOG_MAX_BYTES=1``, the pipeline stopped (``SIGSTOP``) after one
  accepted batch, so every request is answered 503 ``pipeline_behind``.

* *ack-base*, *refuse-base* (with ``--baseline REF``): the same, served by the ``backend/`` of
  another commit (``git archive`` into a temporary directory, put first on ``PYTHONPATH``),
  for a before/after in one run.

Per request: the worker's CPU time (utime + stime from /proc over the run) divided by the
requests wrk completed; alternated ``--runs`` times, medians. wrk
shares the box, so the CPU per request, not the request rate, is the figure.

    python bench/bench_refusal_cost.py [--seconds 8] [--runs 3] [--baseline REF]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cxloop.db import embedded_postgres  # noqa: E402
from tests.helpers.server import Project, RunningServer, create_project, running_server  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def batch_line() -> bytes:
    events = [
        {
            "type": "track",
            "event": "Report Exported",
            "userId": f"u{i % 7}",
            "messageId": str(uuid.uuid4()),
            "properties": {"format": "csv", "rows": i},
        }
        for i in range(50)
    ]
    return msgspec.json.encode({"batch": events})


def pid_of(server: RunningServer, name: str) -> int:
    snapshot = server.data_dir / "state" / "metrics" / f"{name}.json"
    deadline = time.monotonic() + 30
    while not snapshot.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no metrics snapshot for {name}")
        time.sleep(0.1)
    return int(json.loads(snapshot.read_text())["pid"])


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wrk(server: RunningServer, project: Project, bodies: Path, seconds: int) -> int:
    auth = project.basic_auth["Authorization"]
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "-H", f"Authorization: {auth}",
         "-H", "Content-Type: application/json", "-s", str(HERE / "wrk_post.lua"),
         f"{server.url}/v1/batch", "--", str(bodies)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"(\d+) requests in", out)
    if not found:
        raise RuntimeError(out)
    return int(found.group(1))


def checkout(ref: str, root: Path) -> Path:
    """``backend/`` of commit ``ref``, extracted under ``root``; the directory to import from."""
    target = root / f"baseline-{ref.replace('/', '_')}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", ref, "backend"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    # The database is this tree's: the baseline migrates it with this tree's migrations.
    (target / "migrations").symlink_to(HERE.parent / "migrations")
    return target / "backend"


@contextlib.contextmanager
def python_path(first: Path | None) -> Iterator[None]:
    """The servers started inside import ``cxloop`` from ``first`` (None: this tree)."""
    saved = os.environ.get("PYTHONPATH")
    if first is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(first), saved) if p)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def run(
    mode: str,
    database_url: str,
    project: Project,
    root: Path,
    bodies: Path,
    seconds: int,
    baseline: Path | None = None,
) -> tuple[float, str]:
    refusing = mode.startswith("refuse")
    # Acks with back-pressure off: 8 s of wrk outruns the pipeline, and a gate that engaged
    # would mix refusals into the ack figure.
    bound = 1 if refusing else 0
    settings = {"wal_backlog_max_bytes": bound, "wal_backlog_max_s": 0}
    data = root / f"{mode}-{time.time_ns()}"
    source = baseline if mode.endswith("-base") else None
    with python_path(source), running_server(data, database_url, **settings) as server:
        worker = pid_of(server, "w0")
        pipeline = pid_of(server, "pipeline")
        stopped = False
        try:
            if refusing:
                os.kill(pipeline, signal.SIGSTOP)
                stopped = True
                with server.client() as client:
                    client.post("/v1/batch", content=batch_line(), headers=project.basic_auth)
                    deadline = time.monotonic() + 10
                    while client.get("/readyz").status_code != 503:
                        if time.monotonic() > deadline:
                            raise RuntimeError("back-pressure never engaged")
                        time.sleep(0.1)
            before = cpu_s(worker)
            requests = wrk(server, project, bodies, seconds)
            used = cpu_s(worker) - before
            with server.client() as client:
                status = client.post(
                    "/v1/batch", content=batch_line(), headers=project.basic_auth
                ).status_code
        finally:
            if stopped:
                os.kill(pipeline, signal.SIGCONT)
    return used / requests * 1e6, str(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--baseline", help="also time refusals served by this commit's backend/ (before/after)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cxloop-bench-refusal-"))
    bodies = root / "bodies.jsonl"
    bodies.write_bytes(b"\n".join(batch_line() for _ in range(2000)) + b"\n")
    baseline = checkout(args.baseline, root) if args.baseline else None
    modes = ("ack", "ack-base", "refuse", "refuse-base") if baseline else ("ack", "refuse")
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    with embedded_postgres(root / "pg") as database_url:
        project = create_project(database_url)
        for _ in range(args.runs):
            for mode in modes:
                us, status = run(mode, database_url, project, root, bodies, args.seconds, baseline)
                results[mode].append(us)
                print(f"{mode:11s} {us:8.1f} µs worker CPU per request (a check after: {status})")
    ack, refuse = statistics.median(results["ack"]), statistics.median(results["refuse"])
    print(
        f"worker CPU per 50-event request, medians of {args.runs}: ack {ack:.1f} µs, "
        f"refusal {refuse:.1f} µs, refusal/ack {refuse / ack:.2f}"
    )
    if baseline:
        base = statistics.median(results["refuse-base"])
        ack_base = statistics.median(results["ack-base"])
        print(
            f"served by {args.baseline}: ack {ack_base:.1f} µs, refusal {base:.1f} µs; this "
            f"tree's over the baseline's: ack {ack / ack_base:.2f}, refusal {refuse / base:.2f}"
        )


if __name__ == "__main__":
    main()
