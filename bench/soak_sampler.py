"""What the soak samples every few seconds, each a cheap look from outside the server:
WAL segments by state, ``/metrics`` gauges, memory and file descriptors per process of the
server tree and of PostgreSQL, and lake files per partition-day."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

__all__ = [
    "METRICS",
    "lake_files",
    "metrics",
    "pipeline_backlog",
    "process_memory",
    "wal_bytes",
]

# Gauges and counters read from /metrics (summed over labels and processes); a name the
# server does not export yet is reported as null, not 0.
METRICS = (
    "cxloop_pipeline_lag_seconds",
    "cxloop_projection_lag_seconds",
    "cxloop_wal_backlog_bytes",
    "cxloop_wal_unprojected_bytes",
    "cxloop_ingest_backpressure_total",
    "cxloop_lake_merges_total",
    "cxloop_lake_files_merged_total",
    "cxloop_dedupe_keys",
    "cxloop_dedupe_index_bytes",
    "cxloop_dedupe_window_seconds",
    "cxloop_lake_events_written_total",
    "cxloop_events_accepted_total",
    # Per sample interval, mean WAL write+fsync time and mean ack time (deltas of sum/count):
    # whether a window's slow acks wait for the disk (the pipeline's writes share it).
    "cxloop_wal_fsync_seconds_sum",
    "cxloop_wal_fsync_seconds_count",
    "cxloop_ingest_ack_seconds_sum",
    "cxloop_ingest_ack_seconds_count",
)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metrics(url: str, names: tuple[str, ...] = METRICS) -> dict[str, float | None]:
    try:
        text = httpx.get(f"{url}/metrics", timeout=10).text
    except httpx.HTTPError:
        return dict.fromkeys(names)
    found: dict[str, float | None] = dict.fromkeys(names)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = _METRIC_NAME.match(line)
        if name and name.group(0) in found:
            key = name.group(0)
            with contextlib.suppress(ValueError, IndexError):
                found[key] = (found[key] or 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def wal_bytes(wal_dir: Path) -> dict[str, int]:
    """Bytes and counts of segment files on disk by state (``open``, ``sealed``, ``compacted``),
    plus whatever else sits in the WAL directory (``other``: corrupt, temp)."""
    out: Counter[str] = Counter()
    for root, _, files in os.walk(wal_dir):
        for name in files:
            state = name.rpartition(".")[2]
            state = state if state in ("open", "sealed", "compacted") else "other"
            with contextlib.suppress(OSError):
                out[f"{state}_bytes"] += os.stat(os.path.join(root, name)).st_size
                out[f"{state}_files"] += 1
    out["total_bytes"] = sum(v for k, v in out.items() if k.endswith("_bytes"))
    return dict(out)


def pipeline_backlog(wal_dir: Path) -> dict[str, Any] | None:
    """``cxloop.wal.backlog`` (the server's own definition of lag and pending bytes), or None
    on a tree that does not have it."""
    try:
        from cxloop.wal import backlog  # type: ignore[attr-defined]
    except ImportError:
        return None
    found = backlog(wal_dir)
    return {
        "pending_bytes": found.pending_bytes,
        "unprojected_bytes": found.unprojected_bytes,
        "lag_s": round(found.lag_s(), 3),
        "projection_lag_s": round(found.projection_lag_s(), 3),
        "open_segments": found.open_segments,
        "sealed_segments": found.sealed_segments,
        "compacted_segments": found.compacted_segments,
    }


def lake_files(lake_dir: Path) -> dict[str, Any]:
    """Parquet files per store: total, bytes, and the most in any one partition-day (hidden
    temp files excluded, as readers skip them)."""
    out: dict[str, Any] = {}
    for store in ("events", "failed"):
        per_partition: Counter[str] = Counter()
        total_bytes = 0
        root = lake_dir / store
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
            for name in files:
                if name.startswith((".", "_")) or not name.endswith(".parquet"):
                    continue
                per_partition[os.path.relpath(dirpath, root)] += 1
                with contextlib.suppress(OSError):
                    total_bytes += os.stat(os.path.join(dirpath, name)).st_size
        worst = per_partition.most_common(1)
        out[store] = {
            "files": sum(per_partition.values()),
            "bytes": total_bytes,
            "partitions": len(per_partition),
            "max_per_partition": worst[0][1] if worst else 0,
            "max_partition": worst[0][0] if worst else None,
        }
    return out


def _smaps_rollup(pid: int) -> dict[str, int]:
    out = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss", "Anonymous"):
                # Anonymous: RSS without file-backed pages (mapped dedupe runs, libraries),
                # which the kernel can drop under pressure.
                out["anon" if key == "Anonymous" else key.lower()] = int(value.split()[0]) * 1024
    return out


def _fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def _is_pipeline(process: psutil.Process) -> bool:
    """cxloop's pipeline gives way to the workers: SCHED_IDLE, or nice 10."""
    try:
        return process.nice() > 0 or os.sched_getscheduler(process.pid) == os.SCHED_IDLE
    except (psutil.Error, OSError):
        return False


def process_memory(
    server_pid: int, postmaster_pid: int | None, load_pid: int | None = None
) -> list[dict[str, Any]]:
    """RSS, PSS, open fds and CPU seconds so far of every process of the server tree (role
    ``supervisor``, ``worker``, ``pipeline`` or ``other``), of PostgreSQL (``postgres``) and
    of the load tool (``load``)."""
    rows: list[dict[str, Any]] = []
    trees: list[tuple[str, int]] = [("server", server_pid)]
    if postmaster_pid:
        trees.append(("postgres", postmaster_pid))
    if load_pid:
        trees.append(("load", load_pid))
    for tree, pid in trees:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in processes:
            try:
                if tree in ("postgres", "load"):
                    role = tree
                elif process.pid == pid:
                    role = "supervisor"
                elif _is_pipeline(process):
                    role = "pipeline"
                elif "spawn_main" in " ".join(process.cmdline()):
                    role = "worker"
                else:
                    role = "other"
            except psutil.NoSuchProcess:
                continue
            memory = _smaps_rollup(process.pid)
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            if not memory:
                continue
            rows.append(
                {
                    "pid": process.pid,
                    "role": role,
                    **memory,
                    "fds": _fds(process.pid),
                    "cpu_s": round(times.user + times.system, 2),
                }
            )
    return rows


def summarise_memory(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per role: summed RSS/PSS and fds; ``server_rss``/``server_pss``: the server tree
    without PostgreSQL or the load tool (what the issue's RSS targets measure)."""
    out: dict[str, Any] = {}
    for row in rows:
        role = out.setdefault(
            row["role"], {"rss": 0, "pss": 0, "anon": 0, "fds": 0, "processes": 0, "cpu_s": 0.0}
        )
        role["cpu_s"] = round(role["cpu_s"] + row.get("cpu_s", 0.0), 2)
        role["rss"] += row.get("rss", 0)
        role["pss"] += row.get("pss", 0)
        role["anon"] += row.get("anon", 0)
        role["fds"] += row.get("fds") or 0
        role["processes"] += 1
    server = [r for r in rows if r["role"] not in ("postgres", "load")]
    out["server_rss"] = sum(r.get("rss", 0) for r in server)
    out["server_pss"] = sum(r.get("pss", 0) for r in server)
    out["server_anon"] = sum(r.get("anon", 0) for r in server)
    out["max_fds_per_process"] = max(
        (r.get("fds") or 0 for r in rows if r["role"] != "load"), default=0
    )
    return out


def now_s(start: float) -> float:
    return round(time.monotonic() - start, 2)
