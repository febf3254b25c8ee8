"""Soak: does the whole product hold a steady state at a fraction of its ingest maximum?

Starts a real ``cxloop serve`` (default settings, ``--workers`` worker processes, embedded
PostgreSQL, a fresh data directory in /tmp), then:

1. measures the ingest maximum with a closed-loop ``wrk`` burst of 50-event batches of the
   soak's own mix, on a throwaway data directory (skipped with ``--max-rate`` or ``--rate``);
2. offers ``--fraction`` of it (or ``--rate`` events/s) open loop for ``--minutes``
   (``bench/soak_load.py``: unique message ids from a counter, 1 % of batches sent twice, a
   few % of events days late; a failed send is retried as analytics.js does, at most
   ``--max-attempts`` sends with backoff honouring ``Retry-After``, then given up), sampling
   every ``--sample-s`` seconds WAL bytes by segment state, the lag and backlog gauges, the
   lake's written-events counter, RSS/PSS, fds and CPU per process (server tree, PostgreSQL
   and the load tool), lake files per partition-day, and every ``--refresh-s`` seconds timing
   ``POST /v1/health/refresh``. Per 30-s window the load tool reports three latencies: the
   server's ack (request written → answer read; 200s and 429/503s apart), the delivery delay
   (scheduled → finally acked, retries included) and its own send lag (scheduled → written).
   Samples after the offer ends, while refused batches still retry, are phase ``tail``: the
   steady-state verdicts (lag, backlog, memory, CPU and pipeline rate during the load) are
   over the offer only;
3. stops the load, waits (bounded) for the pipeline to drain, and verifies exactly once by
   ids: every acked batch's events are in the lake exactly once, nothing refused or never
   sent is there, an unanswered or given-up batch is there whole or not at all (one only
   ever refused is not there), and each survey answer of a batch in the lake is in
   PostgreSQL once;
4. prints the issue's targets as pass/fail (the issue's "ack p99 ≤ 25 ms" judged on the
   server's ack latency of accepted requests), the CPU split (worker, pipeline, PostgreSQL,
   load tool), the pipeline's throughput during the load, a one-line summary, and writes
   every sample and window to ``bench/results/soak-<time>.json``.

RSS targets are judged on RSS (not PSS) of the server tree without PostgreSQL, in MB (10^6
bytes); PSS and PostgreSQL are recorded beside it.

Usage: python bench/soak.py [--minutes 20] [--fraction 0.5 | --rate N] [--workers 1]
           [--max-rate N] [--pipeline-priority idle|nice] [--max-attempts 10]
       python bench/soak.py --minutes 2 --rate 30000      # a smoke run, to validate the bench
Loopback only; every wait is bounded; the server is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import queue
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_ingest import free_port, ingest_worker_pid, project_keys, run_wrk  # noqa: E402
from soak_load import (  # noqa: E402
    ACKED,
    REFUSED,
    UNKNOWN,
    UNSENT,
    LoadPlan,
    Template,
    build_templates,
    run_load,
)
from soak_sampler import (  # noqa: E402
    lake_files,
    metrics,
    pipeline_backlog,
    process_memory,
    summarise_memory,
    wal_bytes,
)

MB = 1_000_000


# --- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def start_server(
    data_dir: Path, database_url: str, workers: int, settings: dict[str, str]
) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env |= {
        "CXLOOP_DATA_DIR": str(data_dir),
        "CXLOOP_PORT": str(port),
        "DATABASE_URL": database_url,
        "CXLOOP_LOG_LEVEL": "WARNING",
        **{f"CXLOOP_{k.upper()}": v for k, v in settings.items()},
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-serve.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cxloop.cli", "serve", "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", data_dir, log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cxloop serve exited early; log: {log_path}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"cxloop serve did not come up in 90 s; log: {log_path}")


def postmaster_pid(pg_dir: Path) -> int | None:
    for pid_file in pg_dir.rglob("postmaster.pid"):
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return None


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def effective_settings(overrides: dict[str, str]) -> Any:
    from cxloop.settings import Settings

    # The server's own reading of the environment plus the --setting overrides (a bare
    # Settings() is the defaults alone: the run's bounds would ignore --setting).
    env = {f"CXLOOP_{k.upper()}": v for k, v in overrides.items()}
    return Settings.from_env({**os.environ, **env})


# --- step 1: the ingest maximum -----------------------------------------------------------


def fill(template: Template, prefix: str, base: int) -> bytes:
    pieces = [template.parts[0]]
    for k, slot in enumerate(template.slots):
        pieces += [f"{prefix}{base + slot:012d}".encode(), template.parts[k + 1]]
    return b"".join(pieces)


def measure_max(
    tmp: Path,
    database_url: str,
    args: argparse.Namespace,
    templates: list[Template],
    settings: dict[str, str],
) -> dict[str, Any]:
    """Closed-loop ``wrk`` with the soak's bodies on a throwaway data directory, so the
    burst's backlog does not weigh on the soak."""
    keys = project_keys(database_url)
    body_file = tmp / "max-bodies.jsonl"
    bodies = [fill(templates[i % len(templates)], "max-", i * args.batch) for i in range(2000)]
    body_file.write_bytes(b"\n".join(bodies) + b"\n")
    server = start_server(tmp / "max-data", database_url, args.workers, settings)
    try:
        worker = ingest_worker_pid(server.process.pid)
        result = run_wrk(
            f"{server.url}/v1/batch",
            body_file,
            basic_auth(keys["write_key"]),
            args.max_seconds,
            args.connections,
            worker,
        )
    finally:
        server.stop()
        shutil.rmtree(tmp / "max-data", ignore_errors=True)
    ok_rps = result["rps"] - result["non_2xx"] / args.max_seconds
    return {
        "wrk_rps": round(result["rps"], 1),
        "non_2xx": result["non_2xx"],
        "events_per_s": round(ok_rps * args.batch, 1),
        "cpu_us_per_request": round(result["cpu_us_per_request"], 1),
        "seconds": args.max_seconds,
    }


# --- step 2: load, samples, health refreshes -------------------------------------------


@dataclass(eq=False)  # a Thread must stay hashable
class Refresher(threading.Thread):
    """``POST /v1/health/refresh`` every ``every_s`` seconds, each answer timed."""

    url: str
    secret_key: str
    every_s: float
    start_at: float
    results: list[dict[str, Any]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=180) as client:
            next_at = self.start_at + self.every_s
            # One starts every_s after the last one started (at once if that one took longer).
            while not self.stop_event.wait(max(0.0, next_at - time.monotonic())):
                began = time.monotonic()
                next_at = began + self.every_s
                entry: dict[str, Any] = {"t_s": round(began - self.start_at, 1)}
                try:
                    answer = client.post("/v1/health/refresh")
                    entry["status"] = answer.status_code
                    if answer.status_code != 200:
                        entry["answer"] = answer.text[:300]
                except httpx.HTTPError as exc:
                    entry["status"] = None
                    entry["answer"] = repr(exc)[:300]
                entry["seconds"] = round(time.monotonic() - began, 3)
                self.results.append(entry)
                print(f"  health refresh at {entry['t_s']:.0f} s: {entry}", flush=True)


def sample(
    server: Server, pg_pid: int | None, started: float, phase: str, load_pid: int | None = None
) -> dict[str, Any]:
    memory_rows = process_memory(server.process.pid, pg_pid, load_pid)
    return {
        "t_s": round(time.monotonic() - started, 2),
        "phase": phase,
        "wal": wal_bytes(server.data_dir / "wal"),
        "backlog": pipeline_backlog(server.data_dir / "wal"),
        "metrics": metrics(server.url),
        "memory": summarise_memory(memory_rows),
        "processes": memory_rows,
        "lake": lake_files(server.data_dir / "lake"),
    }


def lag_of(s: dict[str, Any]) -> float | None:
    """The server's own lag: the gauge, else the backlog scan it is computed from."""
    gauge = s["metrics"].get("cxloop_pipeline_lag_seconds")
    if gauge is not None:
        return float(gauge)
    return s["backlog"]["lag_s"] if s["backlog"] else None


def pending_of(s: dict[str, Any]) -> float:
    """Acked WAL bytes not yet in the lake (open segments with frames + sealed)."""
    if s["backlog"]:
        return float(s["backlog"]["pending_bytes"])
    gauge = s["metrics"].get("cxloop_wal_backlog_bytes")
    if gauge is not None:
        return float(gauge)
    return float(s["wal"].get("sealed_bytes", 0) + s["wal"].get("open_bytes", 0))


def line(s: dict[str, Any]) -> str:
    lag = lag_of(s)
    return (
        f"  {s['t_s']:7.1f} s {s['phase']:5s} wal {s['wal'].get('total_bytes', 0) / MB:8.1f} MB"
        f" pending {pending_of(s) / MB:8.1f} MB lag {'-' if lag is None else f'{lag:.1f}'} s"
        f" rss {s['memory']['server_rss'] / MB:6.0f} MB (pipeline "
        f"{s['memory'].get('pipeline', {}).get('rss', 0) / MB:.0f}) lake "
        f"{s['lake']['events']['files']} files, max {s['lake']['events']['max_per_partition']}"
        "/partition-day"
    )


def drained(s: dict[str, Any]) -> bool:
    if s["backlog"]:
        return bool(s["backlog"]["pending_bytes"] == 0 and s["backlog"]["unprojected_bytes"] == 0)
    return not s["wal"].get("sealed_files") and not s["wal"].get("compacted_files")


# --- step 4: exactly once -------------------------------------------------------------------


def verify_lake(
    lake_dir: Path, prefix: str, batch: int, outcome: bytes, given_up: bytes = b""
) -> dict[str, Any]:
    """Per batch of the run, its rows in the lake: count and the bitmask of event slots seen.
    A batch is *complete* when it has exactly ``batch`` rows covering every slot: each of
    its events once (``batch`` rows, ``batch`` distinct slots). A given-up batch is judged
    by its outcome like any other (one only ever refused must be absent, one with a lost
    answer absent or whole); how many of them are in the lake is reported beside."""
    import duckdb
    import numpy as np

    from cxloop.lake import duckdb_events_sql, duckdb_failed_sql

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '1GB'")
    full = (1 << batch) - 1
    status = np.frombuffer(outcome, dtype=np.uint8)
    out: dict[str, Any] = {}
    per_batch = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64))
    if any((lake_dir / "events").glob("*/*/*.parquet")):
        source = duckdb_events_sql(lake_dir)
        table = con.execute(
            f"SELECT n // {batch} AS b, count(*) AS c, "
            f"bit_or(CAST(1 AS UBIGINT) << CAST(n % {batch} AS INTEGER)) AS mask "
            f"FROM (SELECT CAST(substr(message_id, {len(prefix) + 1}) AS BIGINT) AS n "
            f"FROM {source} WHERE starts_with(message_id, $1)) GROUP BY b",
            [prefix],
        ).fetchnumpy()
        per_batch = (
            np.asarray(table["b"], dtype=np.int64),
            np.asarray(table["c"], dtype=np.int64),
            np.asarray(table["mask"], dtype=np.uint64),
        )
        out["foreign_rows"] = con.execute(
            f"SELECT count(*) FROM {source} WHERE NOT starts_with(message_id, $1)",
            [prefix],
        ).fetchone()[0]  # type: ignore[index]
    if any((lake_dir / "failed").glob("*/*/*.parquet")):
        out["failed_rows"] = con.execute(
            f"SELECT count(*) FROM {duckdb_failed_sql(lake_dir)} WHERE starts_with(message_id, $1)",
            [prefix],
        ).fetchone()[0]  # type: ignore[index]
    b, c, mask = per_batch
    in_range = b < len(status)
    batch_status = np.where(in_range, status[np.minimum(b, max(len(status) - 1, 0))], UNSENT)
    complete = (c == batch) & (mask == np.uint64(full))
    acked = int((status == ACKED).sum())
    acked_in_lake = batch_status == ACKED
    violations = {
        "acked_missing": acked - int(acked_in_lake.sum()),
        "acked_not_exactly_once": int((acked_in_lake & ~complete).sum()),
        "unknown_partial_or_duplicated": int(((batch_status == UNKNOWN) & ~complete).sum()),
        "refused_but_present": int((batch_status == REFUSED).sum()),
        "never_sent_but_present": int((batch_status == UNSENT).sum()),
        "failed_store_rows": int(out.get("failed_rows", 0)),
        "foreign_rows": int(out.get("foreign_rows", 0)),
    }
    if given_up:
        gave_up = np.frombuffer(given_up, dtype=np.uint8)
        in_lake = np.zeros(len(status), dtype=bool)
        in_lake[b[in_range]] = True
        out["given_up_batches"] = int(gave_up.sum())
        out["given_up_present"] = int((in_lake & (gave_up == 1)).sum())
    bad = b[(acked_in_lake & ~complete) | (batch_status <= REFUSED)]
    present = b[complete & ((batch_status == ACKED) | (batch_status == UNKNOWN))]
    out |= {
        "batches": len(status),
        "acked_batches": acked,
        "refused_batches": int((status == REFUSED).sum()),
        "unknown_batches": int((status == UNKNOWN).sum()),
        "unknown_present": int(((batch_status == UNKNOWN) & complete).sum()),
        "lake_rows": int(c.sum()),
        "violations": violations,
        "examples": [int(x) for x in bad[:10]],
        "ok": not any(violations.values()),
    }
    return out | {"_present_batches": present}


async def _survey_rows(database_url: str, project_ids: list[str], prefix: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return list(
            await conn.fetch(
                "SELECT project_id, message_id FROM survey_responses "
                "WHERE project_id = any($1::text[]) AND left(message_id, $2) = $3",
                project_ids,
                len(prefix),
                prefix,
            )
        )
    finally:
        await conn.close()


def verify_postgres(
    database_url: str,
    project_ids: list[str],
    prefix: str,
    batch: int,
    templates: list[Template],
    present: Any,
) -> dict[str, Any]:
    """Each survey answer of a batch in the lake is one ``survey_responses`` row (its
    response_id is its messageId), in the right project, and there is no other."""
    import numpy as np

    rows = asyncio.run(_survey_rows(database_url, project_ids, prefix))
    projects = len(project_ids)
    slot_counts = np.array([len(t.survey_slots) for t in templates], dtype=np.int64)
    expected = int(slot_counts[(present // projects) % len(templates)].sum())
    present_set = set(present.tolist())
    stray = wrong_project = 0
    for project_id, message_id in rows:
        n = int(message_id[len(prefix) :])
        b, j = divmod(n, batch)
        template = templates[(b // projects) % len(templates)]
        if b not in present_set or j not in template.survey_slots:
            stray += 1
        elif project_ids[b % projects] != project_id:
            wrong_project += 1
    violations = {
        "missing": max(0, expected - (len(rows) - stray)),
        "stray": stray,
        "wrong_project": wrong_project,
    }
    return {
        "expected_survey_rows": expected,
        "survey_rows": len(rows),
        "violations": violations,
        "ok": not any(violations.values()),
    }


def cpu_by_role(
    samples: list[dict[str, Any]],
    lake_rows: int,
    phases: tuple[str, ...] = ("load", "tail", "drain", "after"),
) -> dict[str, Any]:
    """CPU seconds each role used from the first to the last sample of ``phases`` (a
    restarted process's earlier seconds are lost, so a restart shows as less; a role gone
    before the last sample, like the load tool in the drain, counts to its own last sample),
    and the lake rows the pipeline wrote per CPU-second of its own."""
    span = [s for s in samples if s["phase"] in phases]
    if len(span) < 2:
        return {}
    first = span[0]["memory"]
    wall = span[-1]["t_s"] - span[0]["t_s"]
    out: dict[str, Any] = {"seconds": round(wall, 1)}
    for role in ("supervisor", "worker", "pipeline", "postgres", "load", "other"):
        last = next((s["memory"][role] for s in reversed(span) if role in s["memory"]), None)
        if last is not None:
            used = last["cpu_s"] - first.get(role, {}).get("cpu_s", 0.0)
            out[role] = {"cpu_s": round(used, 1), "cores": round(used / max(wall, 1e-9), 2)}
    pipeline_s = out.get("pipeline", {}).get("cpu_s", 0.0)
    if pipeline_s > 0 and lake_rows:
        out["lake_rows_per_pipeline_cpu_s"] = round(lake_rows / pipeline_s)
    return out


def counter_rate(samples: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """Events/s of a server counter between the first and the last load sample (None when the
    server does not export it or a process restarted and the counter went back)."""
    load = [s for s in samples if s["phase"] == "load" and s["metrics"].get(name) is not None]
    if len(load) < 2:
        return None
    first, last = load[0], load[-1]
    delta = last["metrics"][name] - first["metrics"][name]
    seconds = last["t_s"] - first["t_s"]
    if delta < 0 or seconds <= 0:
        return None
    return {
        "events": round(delta),
        "seconds": round(seconds, 1),
        "per_s": round(delta / seconds, 1),
    }


def acked_during(
    windows: list[dict[str, Any]], seconds: float, window_s: float, batch: int
) -> float | None:
    """Events/s answered 200 in the whole windows of the first ``seconds`` (a replay's 200
    counts too: ~1 % of batches are sent twice)."""
    inside = [w for w in windows if w["t0_s"] + window_s <= seconds]
    if not inside:
        return None
    acks = sum(int(w["acks"]) for w in inside)
    return round(acks * batch / (len(inside) * window_s), 1)


def cpu_line(cpu: dict[str, Any]) -> str:
    roles = ("worker", "pipeline", "postgres", "load", "supervisor", "other")
    names = {"load": "load tool"}
    return ", ".join(
        f"{names.get(role, role)} {cpu[role]['cores']:.2f}" for role in roles if role in cpu
    )


# --- step 5: the verdict --------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def verdicts(run: dict[str, Any], settings: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    samples = run["samples"]
    load = [s for s in samples if s["phase"] == "load"]
    half = len(load) // 2
    rows: list[dict[str, Any]] = []

    def row(name: str, measured: Any, bound: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        rows.append({"target": name, "measured": measured, "bound": bound, "verdict": verdict})

    lags = [x for x in map(lag_of, load) if x is not None]
    lag_p99 = percentile(lags, 99)
    row(
        "pipeline lag p99 during the load",
        None if lag_p99 is None else f"{lag_p99:.1f} s (max {max(lags):.1f} s)",
        "≤ 30 s",
        None if lag_p99 is None else lag_p99 <= 30,
    )
    pending = [pending_of(s) for s in load]
    if half:
        first, last = max(pending[:half]), max(pending[half:])
        slack = settings.wal_segment_max_bytes
        bound = settings.wal_backlog_max_bytes
        ok = last <= args.wal_growth * max(first, slack) and (
            not bound or max(pending) <= bound + slack
        )
        row(
            "WAL backlog bounded (pending bytes)",
            f"max {first / MB:.0f} MB first half, {last / MB:.0f} MB second half",
            f"second ≤ {args.wal_growth:g}× first (floor one segment); all ≤ "
            f"{bound / MB:.0f} MB + one segment",
            ok,
        )
    else:
        row("WAL backlog bounded (pending bytes)", "too few samples", "", None)
    refreshes = [r for r in run["refreshes"] if r["t_s"] <= run["load_seconds"]]
    if refreshes:
        worst = max(r["seconds"] for r in refreshes)
        good = sum(1 for r in refreshes if r["status"] == 200 and r["seconds"] <= 30)
        row(
            "health refresh during the load",
            f"{good}/{len(refreshes)} answered 200 within 30 s (slowest {worst:.1f} s)",
            "all 200, ≤ 30 s",
            good == len(refreshes),
        )
    else:
        row("health refresh during the load", "none ran (load shorter than --refresh-s)", "", None)
    lake, pg = run["verification"]["lake"], run["verification"].get("postgres")
    row(
        "exactly once by ids (lake; PostgreSQL survey answers)",
        f"{lake['acked_batches'] * args.batch:,} acked events; lake violations "
        f"{sum(lake['violations'].values())}"
        + (f", PostgreSQL violations {sum(pg['violations'].values())}" if pg else ""),
        "0 violations",
        lake["ok"] and (pg is None or pg["ok"]) and run["drained"],
    )
    throughput = run["throughput"]
    share = throughput["acked_share"]
    load_result = run["load"]
    row(
        "sustained: batches offered that were acked (after retries)",
        f"{share:.1%} of {load_result['batches']:,} ({throughput['offered_events_per_s']:,.0f} "
        f"events/s offered; acked {throughput['acked_events_per_s']:,.0f}/s over the "
        f"{run['load_seconds']:.0f} s of load and retries, "
        + (
            "-"
            if throughput.get("acked_events_per_s_during_offer") is None
            else f"{throughput['acked_events_per_s_during_offer']:,.0f}/s"
        )
        + " while offered); "
        f"{load_result.get('refused_then_acked', 0):,} refused then acked, "
        f"{load_result.get('given_up', 0):,} given up after {load_result.get('max_attempts')} "
        f"attempts; {load_result['statuses'].get('503', 0):,} answers 503",
        "≥ 95 % acked (back-pressure may refuse, but not most of the offer)",
        share >= 0.95,
    )
    idle_before = run["idle_before"]["server_rss"]
    idle_after = run["idle_after"]["server_rss"] if run.get("idle_after") else None
    # PSS beside it: the processes share library pages, which summed RSS counts once each.
    pss_before = run["idle_before"].get("server_pss", 0)
    pss_after = run["idle_after"].get("server_pss", 0) if run.get("idle_after") else None
    row(
        "server tree RSS idle (before load / after drain)",
        f"{idle_before / MB:.0f} MB / "
        + ("-" if idle_after is None else f"{idle_after / MB:.0f} MB")
        + f" (PSS {pss_before / MB:.0f} / "
        + ("-" if pss_after is None else f"{pss_after / MB:.0f}")
        + " MB)",
        "≤ 250 MB",
        idle_before <= 250 * MB and (idle_after is None or idle_after <= 250 * MB),
    )
    peak = max((s["memory"]["server_rss"] for s in load), default=0)
    peak_pss = max((s["memory"].get("server_pss", 0) for s in load), default=0)
    peak_anon = max((s["memory"].get("server_anon", 0) for s in load), default=0)
    row(
        "server tree RSS under load (peak)",
        f"{peak / MB:.0f} MB (PSS {peak_pss / MB:.0f} MB, anonymous {peak_anon / MB:.0f} MB)",
        "≤ 600 MB (the issue's bound for 3× overload)",
        peak <= 600 * MB,
    )
    pipeline = [s["memory"].get("pipeline", {}).get("rss", 0) for s in load[half:]]
    anon = [s["memory"].get("pipeline", {}).get("anon", 0) for s in load[half:]]
    row(
        "pipeline RSS in steady state (max over the second half)",
        f"{max(pipeline, default=0) / MB:.0f} MB (median "
        f"{statistics.median(pipeline) / MB if pipeline else 0:.0f}; anonymous max "
        f"{max(anon, default=0) / MB:.0f}, median {statistics.median(anon) / MB if anon else 0:.0f})",
        "≤ 400 MB",
        bool(pipeline) and max(pipeline) <= 400 * MB,
    )
    whole = [w for w in run["windows"] if (w["t0_s"] + args.window_s) <= run["load_seconds"]]
    windows = [w for w in whole if w["acks"]]
    over = [w for w in windows if (w["server_ack_p99_ms"] or 0) > 25]
    row(
        "ack p99 in every 30-s window (server: request written → 200 read)",
        f"{len(windows) - len(over)}/{len(windows)} windows ≤ 25 ms (worst "
        f"{max((w['server_ack_p99_ms'] or 0 for w in windows), default=0):.1f} ms)"
        + (
            f"; {len(whole) - len(windows)} windows acked nothing"
            if len(whole) > len(windows)
            else ""
        ),
        "≤ 25 ms each",
        None if not windows else not over,
    )

    def worst_ms(key: str) -> str:
        values = [w[key] for w in whole if w.get(key) is not None]
        return "-" if not values else f"{max(values):.1f} ms"

    row(
        "  refusals: server p99 of 429/503 answers (worst window)",
        worst_ms("server_refusal_p99_ms"),
        "no target",
        None,
    )
    row(
        "  delivery delay p99: scheduled → finally acked, retries included (worst window)",
        worst_ms("delivery_p99_ms"),
        "no target",
        None,
    )
    row(
        "  load tool's own send lag p99 (worst window)",
        worst_ms("send_lag_p99_ms"),
        "no target",
        None,
    )
    final = samples[-1]["lake"]
    files_bound = args.files_per_partition or 2 * settings.lake_merge_min_files
    worst_files = max(final["events"]["max_per_partition"], final["failed"]["max_per_partition"])
    row(
        "lake files per partition-day (after the drain)",
        f"max {worst_files} ({final['events']['files']} event files in "
        f"{final['events']['partitions']} partitions)",
        f"≤ {files_bound}",
        worst_files <= files_bound,
    )
    return rows


def window_line(w: dict[str, Any]) -> str:
    def ms(key: str) -> str:
        return "-" if w.get(key) is None else f"{w[key]:.1f}"

    return (
        f"  window {w['window']:3d}: {w['acks']} acks; server ack p50 {ms('server_ack_p50_ms')}"
        f" p99 {ms('server_ack_p99_ms')} max {ms('server_ack_max_ms')} ms, refusal p99 "
        f"{ms('server_refusal_p99_ms')} ms; delivery p99 {ms('delivery_p99_ms')} ms; send lag "
        f"p99 {ms('send_lag_p99_ms')} ms; load tool {w['load_cpu_cores']:.2f} cores; statuses "
        f"{w['statuses']}, {w['given_up']} given up, {w['retry_queue']} waiting to retry"
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["target"]) for r in rows)
    print(f"\n{'target':{width}}  verdict  measured  [bound]")
    for r in rows:
        print(f"{r['target']:{width}}  {r['verdict']:7s}  {r['measured']}  [{r['bound']}]")


# --- the run --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--fraction", type=float, default=0.5, help="of the measured maximum")
    parser.add_argument(
        "--rate", type=float, help="events/s to offer, instead of a fraction of the maximum"
    )
    parser.add_argument("--max-rate", type=float, help="events/s: skip measuring the maximum")
    parser.add_argument("--max-seconds", type=int, default=15, help="closed-loop burst")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50, help="events per request (≤ 63)")
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--replay", type=float, default=0.01, help="batches sent twice")
    parser.add_argument("--late", type=float, default=0.03, help="events 1–7 days late")
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--refresh-s", type=float, default=60)
    parser.add_argument("--window-s", type=float, default=30)
    parser.add_argument("--drain-timeout", type=float, default=900)
    parser.add_argument("--wal-growth", type=float, default=2.0, help="WAL bound factor")
    parser.add_argument("--files-per-partition", type=int, help="default 2 × merge threshold")
    parser.add_argument(
        "--pipeline-priority",
        choices=("idle", "nice"),
        help="CXLOOP_PIPELINE_PRIORITY for the server (default: the server's default)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=10,
        help="sends of a batch before the client gives it up (analytics.js: 10)",
    )
    parser.add_argument(
        "--max-backoff-s", type=float, default=60, help="ceiling of one retry's wait"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a CXLOOP_ setting for the server, e.g. wal_backlog_max_bytes=1000000000",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the server and PostgreSQL are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not 1 <= args.batch <= 63:
        parser.error("--batch must be 1..63 (the exactly-once check keeps a 64-bit mask)")
    if args.max_attempts < 1:
        parser.error("--max-attempts must be at least 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    server_settings = dict(s.split("=", 1) for s in args.setting)
    if args.pipeline_priority:
        server_settings["pipeline_priority"] = args.pipeline_priority
    settings = effective_settings(server_settings)

    from cxloop.db import database_url_for

    run: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    templates = build_templates(64, args.batch, args.late)
    run["mix"] = {
        "survey_answers_per_batch": statistics.fmean(len(t.survey_slots) for t in templates),
        "late_events_per_batch": statistics.fmean(len(t.late_slots) for t in templates),
        "batch_bytes_median": statistics.median(len(fill(t, "x" * 9, 0)) for t in templates),
    }
    servers: list[Server] = []
    loader: multiprocessing.context.SpawnProcess | None = None
    refresher: Refresher | None = None
    exit_code = 1
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="cxloop-soak-"))
        if args.keep:
            print(f"data directory kept in {tmp}")
        else:  # registered first, so it runs last: after the server and PostgreSQL stop
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        database_url = stack.enter_context(
            database_url_for(os.environ.get("DATABASE_URL"), tmp / "pg")
        )
        pg_pid = postmaster_pid(tmp / "pg")
        try:
            # 1. The maximum.
            if args.max_rate:
                run["max"] = {"events_per_s": args.max_rate, "given": True}
            elif args.rate:
                run["max"] = {"events_per_s": None, "not_measured": "--rate given"}
            else:
                print(f"measuring the ingest maximum ({args.max_seconds} s of wrk) ...")
                run["max"] = measure_max(tmp, database_url, args, templates, server_settings)
            rate_events = args.rate or args.fraction * run["max"]["events_per_s"]
            print(
                (
                    f"maximum {run['max']['events_per_s']:,.0f} events/s; "
                    if run["max"]["events_per_s"]
                    else ""
                )
                + f"offering {rate_events:,.0f} events/s for {args.minutes:g} min",
                flush=True,
            )

            # 2. The soak server, idle first.
            keys = [project_keys(database_url) for _ in range(args.projects)]
            server = start_server(tmp / "data", database_url, args.workers, server_settings)
            servers.append(server)
            started = time.monotonic()
            samples: list[dict[str, Any]] = []
            run["samples"], run["windows"] = samples, []
            time.sleep(5)
            idle = []
            for _ in range(3):
                time.sleep(1)
                idle.append(sample(server, pg_pid, started, "idle"))
            run["idle_before"] = idle[-1]["memory"]
            samples.extend(idle)
            print(line(idle[-1]), flush=True)

            prefix = f"soak{secrets.token_hex(3)}-"
            plan = LoadPlan(
                host="127.0.0.1",
                port=int(server.url.rsplit(":", 1)[1]),
                auth_headers=[basic_auth(k["write_key"]) for k in keys],
                templates=templates,
                id_prefix=prefix,
                events_per_batch=args.batch,
                rate_rps=rate_events / args.batch,
                seconds=args.minutes * 60,
                connections=args.connections,
                replay_fraction=args.replay,
                window_s=args.window_s,
                max_attempts=args.max_attempts,
                max_backoff_s=args.max_backoff_s,
            )
            reports: multiprocessing.Queue[tuple[str, Any]] = multiprocessing.get_context(
                "spawn"
            ).Queue()
            loader = multiprocessing.get_context("spawn").Process(
                target=run_load, args=(plan, reports), daemon=True
            )
            loader.start()
            load_started = time.monotonic()
            load_offset = load_started - started
            refresher = Refresher(server.url, keys[0]["secret_key"], args.refresh_s, load_started)
            refresher.start()

            result: dict[str, Any] | None = None
            next_sample = time.monotonic()
            hard_stop = load_started + plan.seconds + plan.retry_grace_s + 180
            while result is None:
                if time.monotonic() > hard_stop or (not loader.is_alive() and reports.empty()):
                    raise RuntimeError("the load process ended without a result")
                try:
                    kind, payload = reports.get(timeout=max(0.05, next_sample - time.monotonic()))
                except queue.Empty:
                    pass
                else:
                    if kind == "window":
                        run["windows"].append(payload)
                        print(window_line(payload), flush=True)
                    elif kind == "failed":
                        raise RuntimeError(f"the load process failed: {payload}")
                    else:
                        result = payload
                if time.monotonic() >= next_sample and result is None:
                    # "tail": the offer is over, refused batches still retry.
                    offering = time.monotonic() - load_started <= plan.seconds
                    phase = "load" if offering else "tail"
                    s = sample(server, pg_pid, started, phase, loader.pid)
                    s["t_load_s"] = round(s["t_s"] - load_offset, 2)
                    samples.append(s)
                    print(line(s), flush=True)
                    next_sample += args.sample_s
            refresher.stop_event.set()
            outcome = result.pop("outcome")
            given_up = result.pop("given_up_batches")
            run["load"] = result
            run["load_seconds"] = result["load_seconds"]
            run["refreshes"] = refresher.results
            print(f"load done: {json.dumps(result)[:400]}", flush=True)

            # 3. Drain, bounded.
            drain_started = time.monotonic()
            run["drained"] = False
            while time.monotonic() - drain_started < args.drain_timeout:
                s = sample(server, pg_pid, started, "drain")
                samples.append(s)
                print(line(s), flush=True)
                if (
                    drained(s)
                    and time.monotonic() - drain_started > 2 * settings.wal_segment_max_age_s
                ):
                    run["drained"] = True
                    break
                time.sleep(args.sample_s)
            run["drain_seconds"] = round(time.monotonic() - drain_started, 1)
            time.sleep(5)
            final = sample(server, pg_pid, started, "after")
            samples.append(final)
            run["idle_after"] = final["memory"]
            print(line(final), flush=True)

            # 4. Exactly once.
            lake = verify_lake(server.data_dir / "lake", prefix, args.batch, outcome, given_up)
            present = lake.pop("_present_batches")
            run["verification"] = {"lake": lake}
            run["verification"]["postgres"] = verify_postgres(
                database_url, [k["id"] for k in keys], prefix, args.batch, templates, present
            )
            print(f"exactly once: {json.dumps(run['verification'])}", flush=True)
        finally:
            if refresher is not None:
                refresher.stop_event.set()
            if loader is not None and loader.is_alive():
                loader.terminate()
                loader.join(10)
            for server in servers:
                server.stop()

        # 5. The verdict.
        acked_events = run["verification"]["lake"]["acked_batches"] * args.batch
        run["cpu"] = cpu_by_role(run["samples"], run["verification"]["lake"]["lake_rows"])
        run["cpu_during_load"] = cpu_by_role(run["samples"], 0, ("load",))
        run["throughput"] = {
            "offered_events_per_s": round(rate_events, 1),
            # Over the load and the retries after it (the load tool's whole run) ...
            "acked_events_per_s": round(acked_events / max(run["load_seconds"], 1e-9), 1),
            # ... and the 200s answered while new batches were still offered.
            "acked_events_per_s_during_offer": acked_during(
                run["windows"], args.minutes * 60, args.window_s, args.batch
            ),
            "acked_share": run["verification"]["lake"]["acked_batches"]
            / max(run["load"]["batches"], 1),
            "pipeline_during_load": counter_rate(
                run["samples"], "cxloop_lake_events_written_total"
            ),
            "accepted_during_load": counter_rate(run["samples"], "cxloop_events_accepted_total"),
            "drain_seconds": run["drain_seconds"],
        }
        run["table"] = verdicts(run, settings, args)
        print_table(run["table"])
        load_result = run["load"]
        print(
            f"\nbatches: offered {load_result['batches']:,}, acked "
            f"{load_result['acked_batches']:,}, refused then acked "
            f"{load_result['refused_then_acked']:,}, given up {load_result['given_up']:,} "
            f"(after {load_result['max_attempts']} attempts; "
            f"{run['verification']['lake'].get('given_up_present', 0):,} of them whole in the "
            f"lake), abandoned at the end {load_result['abandoned_retries']:,}, unanswered "
            f"{load_result['unanswered']:,}"
        )
        pipeline_rate = run["throughput"]["pipeline_during_load"]
        accepted_rate = run["throughput"]["accepted_during_load"]
        print(
            "during the load: pipeline wrote "
            + ("-" if not pipeline_rate else f"{pipeline_rate['per_s']:,.0f}")
            + " events/s to the lake, the workers accepted "
            + ("-" if not accepted_rate else f"{accepted_rate['per_s']:,.0f}")
            + " events/s"
        )
        print(f"CPU during the load (cores): {cpu_line(run['cpu_during_load'])}")
        print(
            f"load tool: {load_result['cpu_cores']:.2f} cores, "
            f"{load_result['cpu_us_per_request']:.0f} µs CPU per request "
            f"({load_result['request_builder']})"
        )
        print(f"CPU by role from the load's start to the end: {json.dumps(run['cpu'])}")
        passed = sum(r["verdict"] == "PASS" for r in run["table"])
        failed = [r["target"] for r in run["table"] if r["verdict"] == "FAIL"]
        offer = (
            f"at {args.rate:,.0f} events/s"
            if args.rate
            else f"at {args.fraction:g} of {run['max']['events_per_s']:,.0f} events/s"
        )
        pipeline_part = (
            f", pipeline {pipeline_rate['per_s']:,.0f}/s during the load" if pipeline_rate else ""
        )
        run["summary"] = (
            f"soak {args.minutes:g} min {offer} ({args.workers} worker): offered "
            f"{rate_events:,.0f}/s, acked {run['throughput']['acked_events_per_s']:,.0f}/s"
            f"{pipeline_part}, given up {load_result['given_up']:,} batches, drained in "
            f"{run['drain_seconds']} s; {passed}/{len(run['table'])} targets pass"
            + (f"; FAIL: {', '.join(failed)}" if failed else "")
        )
        print("\n" + run["summary"])
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json"
        path.write_text(json.dumps(run, indent=1, default=str) + "\n")
        print(f"samples written to {path}")
        exit_code = 0 if not failed else 2
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
