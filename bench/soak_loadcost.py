"""What the soak's load tool costs the box: CPU per request of ``bench/soak_load.py`` against
a baseline version of it, alternating, at the same rate against the same bare server.

The server is ``bench/ceiling_app.py`` on uvicorn (msgspec decode, 200, always), so neither
tool meets refusals and both send the same requests. Each round runs the baseline and this
tree's load tool for ``--seconds`` each (the order flips every round) in a process of their
own and reads that process's user+system CPU seconds (``psutil``) over the run; the figures
are medians over the rounds and their ratio. The load tools' own ``send_lag_p99_ms`` and
server-ack p99 come from their window reports.

Usage: python bench/soak_loadcost.py [--rate 60000] [--seconds 20] [--rounds 3]
       [--baseline-rev c4d175d]   # the git revision whose bench/soak_load.py is the baseline
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import soak_load  # noqa: E402
from benchlib import free_port, module_at, start_ceiling, stop  # noqa: E402


def load_baseline(revision: str, directory: Path) -> ModuleType:
    """``bench/soak_load.py`` as of ``revision``, importable here and in spawned children
    (they inherit ``sys.path``)."""
    return module_at(revision, "bench/soak_load.py", "soak_load_baseline", directory)


def one_run(module: ModuleType, port: int, args: argparse.Namespace) -> dict[str, Any]:
    templates = module.build_templates(64, args.batch, 0.03)
    plan = module.LoadPlan(
        host="127.0.0.1",
        port=port,
        auth_headers=["Basic c29hazo=", "Basic c29hazI6", "Basic c29hazM6"],
        templates=templates,
        id_prefix=f"cost{time.time_ns() % 10**6:06d}-",
        events_per_batch=args.batch,
        rate_rps=args.rate / args.batch,
        seconds=args.seconds,
        connections=args.connections,
        window_s=args.seconds / 5,
    )
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    process = context.Process(target=module.run_load, args=(plan, reports), daemon=True)
    process.start()
    watched = psutil.Process(process.pid)
    cpu = (0.0, 0.0)
    windows: list[dict[str, Any]] = []
    marks: list[tuple[float, float]] = []  # (user, system) CPU seconds at each window report
    result: dict[str, Any] | None = None
    deadline = time.monotonic() + args.seconds + 120
    while result is None and time.monotonic() < deadline:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = watched.cpu_times()
            cpu = (times.user, times.system)
        try:
            kind, payload = reports.get(timeout=0.05)
        except queue.Empty:
            if not process.is_alive() and reports.empty():
                message = f"the load tool exited ({process.exitcode}) without a result"
                raise RuntimeError(message) from None
            continue
        if kind == "window":
            windows.append(payload)
            marks.append(cpu)
        elif kind == "done":
            result = payload
        else:
            raise RuntimeError(f"the load tool failed: {payload}")
    process.join(30)
    if result is None or len(windows) < 3:
        raise RuntimeError("the load tool gave no result, or fewer than three windows")
    # From the first window's report to the last full window's: the steady load, without
    # the spawned process's start (imports, connections) or its end.
    steady = windows[1:-1]
    requests = sum(sum(w["statuses"].values()) for w in steady)
    user = marks[-2][0] - marks[0][0]
    system = marks[-2][1] - marks[0][1]
    lag: list[float] = [w["send_lag_p99_ms"] for w in steady if w.get("send_lag_p99_ms")]
    # The baseline's "ack_p99_ms" counts from the scheduled send, this tree's from the write.
    ack: list[float] = [w.get("server_ack_p99_ms") or w.get("ack_p99_ms") or 0.0 for w in steady]
    wall = len(steady) * plan.window_s
    return {
        "requests": requests,
        "cpu_us_per_request": round((user + system) * 1e6 / max(requests, 1), 1),
        "user_us_per_request": round(user * 1e6 / max(requests, 1), 1),
        "system_us_per_request": round(system * 1e6 / max(requests, 1), 1),
        "cores": round((user + system) / wall, 3),
        "send_lag_p99_ms": max(lag, default=None),
        "ack_p99_ms": max(ack, default=None),
        "statuses": result["statuses"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=60_000, help="events/s")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--baseline-rev", default="c4d175d")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = load_baseline(args.baseline_rev, Path(tmp))
        port = free_port()
        server = start_ceiling(port)
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "this tree": []}
            for round_ in range(args.rounds):
                order = [("baseline", baseline), ("this tree", soak_load)]
                for name, module in order if round_ % 2 == 0 else order[::-1]:
                    run = one_run(module, port, args)
                    runs[name].append(run)
                    print(f"round {round_ + 1} {name:9s}: {run}", flush=True)
        finally:
            stop(server)
    medians = {
        name: statistics.median(r["cpu_us_per_request"] for r in rows)
        for name, rows in runs.items()
    }
    cores = {name: statistics.median(r["cores"] for r in rows) for name, rows in runs.items()}
    system = {
        name: statistics.median(r["system_us_per_request"] for r in rows)
        for name, rows in runs.items()
    }
    print(
        f"\n{args.rate:,.0f} events/s in {args.batch}-event batches, {args.rounds} rounds of "
        f"{args.seconds:g} s each:"
    )
    for name in runs:
        print(
            f"  {name:9s}: median {medians[name]:.1f} µs CPU per request (system "
            f"{system[name]:.1f}), {cores[name]:.2f} cores"
        )
    print(f"  this tree / baseline: {medians['this tree'] / medians['baseline']:.2f}")
    for name, rows in runs.items():
        lags = [r["send_lag_p99_ms"] for r in rows if r["send_lag_p99_ms"] is not None]
        print(
            f"  {name:9s}: worst-window send lag p99, median over rounds "
            f"{statistics.median(lags) if lags else float('nan'):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
