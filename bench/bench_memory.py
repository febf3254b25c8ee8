"""Memory of ``cxloop serve``, per process: idle after start, under a bounded open-loop batch
load (3x what the server acks, by default), and idle again once the pipeline has caught up.

``cxloop serve`` runs on its defaults with its embedded PostgreSQL in a fresh data directory.
For every process of the tree — the supervisor, the workers, the pipeline, the embedded
PostgreSQL's guardian, and the PostgreSQL server's own processes (the postmaster runs in its
own session, so it is found through ``postmaster.pid``) — it reads ``/proc/<pid>/smaps_rollup``:
Rss, Pss, Pss_Anon, Pss_File, Pss_Shmem. Sums use **PSS**: the workers map the same shared
libraries and PostgreSQL's backends share its buffers, so summing RSS counts those pages once
per process. "server tree" is cxloop's own processes; "with PostgreSQL" adds the database's.

Targets (issue 18): server tree idle <= 250 MB, under 3x overload <= 600 MB, pipeline <= 400 MB
in steady state.

The issue's target reads "RSS of the whole server tree"; summing RSS counts every shared page
(libpython, libarrow, DuckDB: the same file pages in the worker and the pipeline) once per
process, and PSS divides those pages among *every* process on the machine that maps them
(another cxloop on the same venv takes part of this tree's share), so two more figures count
each page once within the tree. **RSS, each physical page once** (idle readings, as root):
the union of the physical frames the tree's processes have resident (``/proc/<pid>/pagemap``);
exact, and it does not move with what else runs on the machine: the target is held against
it. **RSS (pages once)**, every reading, any user: private anonymous memory (``Anonymous``)
plus, per mapped file, the largest resident size any process has of it (``/proc/<pid>/smaps``);
an estimate, a few MB above the exact figure (a file mapped twice in one process counts twice).

Usage: python bench/bench_memory.py [--workers 1] [--load-seconds 30] [--rate BATCHES_PER_S]
       [--arrow-pool jemalloc|mimalloc|system] [--json]
       python bench/bench_memory.py --idle-ab BASELINE_BACKEND_DIR [--rounds 3]
``--idle-ab`` measures only the idle tree, alternating a server started from another source
tree (``PYTHONPATH=BASELINE_BACKEND_DIR``, e.g. a ``git worktree add --detach /tmp/base HEAD``
copy's ``backend``) with one from this tree, and prints the medians per process.
``--arrow-pool`` starts the server with ``ARROW_DEFAULT_MEMORY_POOL`` set (the supervisor's
children inherit it): the allocator behind every Arrow buffer, for an A/B in one session.
Loopback only; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import (  # noqa: E402
    build_bodies,
    free_port,
    is_pipeline,
    run_wrk,
    stop,
    wait_http,
)
from loadgen import open_loop  # noqa: E402
from loadgen import run as run_load  # noqa: E402

MB = 2**20
MAPPING = re.compile(r"[0-9a-f]+-[0-9a-f]+ ")  # a mapping's first line in /proc/<pid>/smaps
FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem")
TARGETS_MB = {"idle": 250, "overload": 600, "pipeline_steady": 400}


def smaps_rollup(pid: int) -> dict[str, int] | None:
    """The fields of ``/proc/<pid>/smaps_rollup`` in bytes; None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in FIELDS:
            values[name] = int(rest.split()[0]) * 1024
    return values


def resident_pages(pid: int) -> tuple[int, dict[str, int]] | None:
    """Private anonymous bytes, and resident bytes per mapped file, from ``/proc/<pid>/smaps``."""
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return None
    anonymous = 0
    files: dict[str, int] = {}
    name = ""
    for line in text.splitlines():
        if MAPPING.match(line):
            parts = line.split(maxsplit=5)
            name = parts[5] if len(parts) == 6 and parts[5].startswith("/") else ""
            continue
        head, _, rest = line.partition(":")
        if head == "Anonymous":
            anonymous += int(rest.split()[0]) * 1024
        elif head == "Rss" and name:
            files[name] = files.get(name, 0) + int(rest.split()[0]) * 1024
    return anonymous, files


PAGE = os.sysconf("SC_PAGE_SIZE")
PFN_MASK = (1 << 55) - 1


def resident_frames(pid: int) -> Any:
    """The physical frames of every resident page of ``pid`` (``/proc/<pid>/pagemap``; the
    frame numbers read as 0 without CAP_SYS_ADMIN: then None). Mappings with nothing resident
    (``/proc/<pid>/smaps``) are skipped: the address space reserved by allocators is large."""
    import numpy as np

    try:
        smaps = Path(f"/proc/{pid}/smaps").read_text()
        with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            frames = []
            start = end = 0
            for line in smaps.splitlines():
                if MAPPING.match(line):
                    low, high = line.split(maxsplit=1)[0].split("-")
                    start, end = int(low, 16), int(high, 16)
                elif line.startswith("Rss:") and int(line.split()[1]) > 0:
                    pagemap.seek(start // PAGE * 8)
                    entries = np.frombuffer(pagemap.read((end - start) // PAGE * 8), np.uint64)
                    present = entries[(entries >> np.uint64(63)) == 1]
                    frames.append(present & np.uint64(PFN_MASK))
    except OSError:
        return None
    if not frames:
        return None
    resident = np.concatenate(frames)
    if resident.size and not resident.any():
        return None  # no CAP_SYS_ADMIN: frame numbers hidden
    return resident


def classify(server: psutil.Process, postmaster: int | None) -> dict[int, str]:
    """pid -> role for every process of the tree."""
    roles = {server.pid: "supervisor"}
    workers = 0
    for child in server.children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
            if child.name().startswith("postgres"):
                roles[child.pid] = "postgres"
            elif "guardian.py" in cmdline:
                roles[child.pid] = "guardian"
            elif "spawn_main" in cmdline:
                if is_pipeline(child):
                    roles[child.pid] = "pipeline"
                else:
                    roles[child.pid] = f"worker-{workers}"
                    workers += 1
            elif "resource_tracker" in cmdline:
                roles[child.pid] = "resource-tracker"
            else:
                roles[child.pid] = child.name()
        except psutil.Error:
            continue
    if postmaster is not None:
        try:
            pm = psutil.Process(postmaster)
            roles[pm.pid] = "postgres"
            for child in pm.children(recursive=True):
                roles[child.pid] = "postgres"
        except psutil.Error:
            pass
    return roles


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Snapshot:
    """One reading of every process: role -> summed smaps fields (PostgreSQL summed as one)."""

    def __init__(self, server: psutil.Process, pgdata: Path, exact: bool = False) -> None:
        self.by_role: dict[str, dict[str, int]] = {}
        self.pids: dict[str, list[int]] = {}
        anonymous = 0
        files: dict[str, int] = {}
        for pid, role in classify(server, postmaster_pid(pgdata)).items():
            values = smaps_rollup(pid)
            if values is None:
                continue
            into = self.by_role.setdefault(role, dict.fromkeys(FIELDS, 0))
            for name in FIELDS:
                into[name] += values.get(name, 0)
            self.pids.setdefault(role, []).append(pid)
            pages = resident_pages(pid) if role != "postgres" else None
            if pages is not None:
                anonymous += pages[0]
                for path, size in pages[1].items():
                    files[path] = max(files.get(path, 0), size)
        # cxloop's processes, each resident page once (see the module's docstring).
        self.tree_rss_once = anonymous + sum(files.values())
        # Exactly: the union of the physical frames they have resident (root only; slower,
        # so idle readings only). None where the frame numbers cannot be read.
        self.tree_rss_frames: int | None = None
        if exact:
            self.tree_rss_frames = self._frames(
                [pid for role, pids in self.pids.items() if role != "postgres" for pid in pids]
            )

    @staticmethod
    def _frames(pids: list[int]) -> int | None:
        import numpy as np

        per_process = [resident_frames(pid) for pid in pids]
        if not per_process or any(f is None for f in per_process):
            return None
        return int(np.unique(np.concatenate(per_process)).size) * PAGE

    def total(self, field: str, with_postgres: bool) -> int:
        return sum(
            v[field] for role, v in self.by_role.items() if with_postgres or role != "postgres"
        )


class Sampler(threading.Thread):
    """Snapshots every ``interval`` s; keeps the peak per role and of the tree (PSS)."""

    def __init__(self, server: psutil.Process, pgdata: Path, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.server, self.pgdata, self.interval = server, pgdata, interval
        self.snapshots: list[Snapshot] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.snapshots.append(Snapshot(self.server, self.pgdata))
            self.halt.wait(self.interval)

    def peaks(self) -> dict[str, Any]:
        roles = {r for s in self.snapshots for r in s.by_role}
        return {
            "roles": {
                r: {f: max(s.by_role.get(r, {}).get(f, 0) for s in self.snapshots) for f in FIELDS}
                for r in sorted(roles)
            },
            "tree_pss": max(s.total("Pss", False) for s in self.snapshots),
            "tree_rss": max(s.total("Rss", False) for s in self.snapshots),
            "tree_rss_once": max(s.tree_rss_once for s in self.snapshots),
            "with_pg_pss": max(s.total("Pss", True) for s in self.snapshots),
            "samples": len(self.snapshots),
        }


@contextmanager
def sampling(server: psutil.Process, pgdata: Path) -> Iterator[Sampler]:
    sampler = Sampler(server, pgdata)
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.halt.set()
        sampler.join()


def describe(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "roles": {r: dict(v) for r, v in sorted(snapshot.by_role.items())},
        "tree_pss": snapshot.total("Pss", False),
        "tree_rss": snapshot.total("Rss", False),
        "tree_rss_once": snapshot.tree_rss_once,
        "tree_rss_frames": snapshot.tree_rss_frames,
        "with_pg_pss": snapshot.total("Pss", True),
    }


def print_table(title: str, reading: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"  {'process':<18}" + "".join(f"{f:>11}" for f in FIELDS) + "   (MB)")
    for role, values in reading["roles"].items():
        print(f"  {role:<18}" + "".join(f"{values[f] / MB:>11.1f}" for f in FIELDS))
    if reading.get("tree_rss_frames"):
        print(
            f"  server tree: RSS, each physical page once: {reading['tree_rss_frames'] / MB:.1f} MB"
        )
    print(
        f"  server tree: RSS (pages once) {reading['tree_rss_once'] / MB:.1f} MB; PSS "
        f"{reading['tree_pss'] / MB:.1f} MB; RSS summed {reading['tree_rss'] / MB:.1f} MB; "
        f"with PostgreSQL: PSS {reading['with_pg_pss'] / MB:.1f} MB"
    )


def start_serve(
    data_dir: Path,
    port: int,
    workers: int,
    arrow_pool: str | None = None,
    pythonpath: str | None = None,
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env.pop("DATABASE_URL", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    if arrow_pool is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = arrow_pool
    env |= {"CXLOOP_DATA_DIR": str(data_dir), "CXLOOP_PORT": str(port)}
    env["CXLOOP_LOG_LEVEL"] = "WARNING"
    return subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve", "--workers", str(workers)],
        env=env,
        start_new_session=True,
    )


def create_project(data_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env.pop("DATABASE_URL", None)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cxloop.cli",
            "projects",
            "create",
            "bench",
            "--json",
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(out.stdout)["write_key"])


def wait_caught_up(data_dir: Path, timeout: float) -> float:
    """Until every acked event is in the lake and PostgreSQL: no WAL bytes left unprojected
    (``cxloop.wal.backlog``, the scan the pipeline's own gauges use)."""
    from cxloop.wal import backlog

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if backlog(data_dir / "wal").unprojected_bytes == 0:
            return time.monotonic() - started
        time.sleep(1.0)
    raise RuntimeError(f"the pipeline did not catch up within {timeout} s")


def load(port: int, bodies: list[bytes], auth: str, rate: float, seconds: float) -> Any:
    return run_load(
        open_loop(
            "127.0.0.1",
            port,
            "/v1/batch",
            bodies,
            rate=rate,
            seconds=seconds,
            connections=1024,
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )
    )


def idle_reading(
    tmp: Path, name: str, workers: int, settle_s: float, pythonpath: str | None
) -> dict[str, Any]:
    """Start a server (from ``pythonpath``'s sources when given), wait until ready and
    ``settle_s`` more, read every process once, stop it."""
    data_dir = tmp / name
    port = free_port()
    process = start_serve(data_dir, port, workers, pythonpath=pythonpath)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", timeout=120)
        time.sleep(settle_s)
        return describe(Snapshot(psutil.Process(process.pid), data_dir / "postgres", exact=True))
    finally:
        stop(process)


def idle_ab(baseline: str, rounds: int, workers: int, settle_s: float) -> dict[str, Any]:
    """Idle readings alternating the baseline tree and this one; medians per process."""
    this_tree = str(HERE.parent / "backend")
    readings: dict[str, list[dict[str, Any]]] = {"baseline": [], "this tree": []}
    with tempfile.TemporaryDirectory(prefix="cxloop-mem-ab-") as tmp:
        for i in range(rounds):
            for label, path in (("baseline", baseline), ("this tree", this_tree)):
                reading = idle_reading(Path(tmp), f"{label[0]}{i}", workers, settle_s, path)
                readings[label].append(reading)
                print(
                    f"round {i + 1} {label:<9}: RSS (pages once) "
                    f"{reading['tree_rss_once'] / MB:.1f} MB (frames "
                    f"{(reading['tree_rss_frames'] or 0) / MB:.1f}), PSS {reading['tree_pss'] / MB:.1f}"
                    f" MB, RSS summed {reading['tree_rss'] / MB:.1f} MB",
                    flush=True,
                )
    medians: dict[str, Any] = {}
    for label, runs in readings.items():
        roles = sorted({r for run in runs for r in run["roles"]})
        medians[label] = {
            "roles": {
                role: {
                    f: statistics.median(run["roles"].get(role, {}).get(f, 0) for run in runs)
                    for f in FIELDS
                }
                for role in roles
            },
            **{
                k: statistics.median(run[k] or 0 for run in runs)
                for k in ("tree_pss", "tree_rss", "tree_rss_once", "tree_rss_frames", "with_pg_pss")
            },
        }
        print_table(f"idle, {label} (median of {len(runs)})", medians[label])
    print("\nthis tree / baseline (medians):")
    for key in ("tree_rss_frames", "tree_rss_once", "tree_pss", "tree_rss"):
        if not medians["baseline"][key]:
            continue  # frames: not readable without CAP_SYS_ADMIN
        ratio = medians["this tree"][key] / medians["baseline"][key]
        print(
            f"  {key:<14} {medians['baseline'][key] / MB:>7.1f} -> "
            f"{medians['this tree'][key] / MB:>7.1f} MB  ({ratio:.2f})"
        )
    return {"rounds": rounds, "medians": medians, "runs": readings}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--settle-seconds", type=float, default=10.0)
    parser.add_argument("--probe-seconds", type=int, default=5)
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, help="batches/s offered (default: 3x the acked)")
    parser.add_argument("--catch-up-timeout", type=float, default=900.0)
    parser.add_argument("--json", action="store_true", help="print the readings as JSON too")
    parser.add_argument(
        "--arrow-pool",
        choices=("jemalloc", "mimalloc", "system"),
        help="ARROW_DEFAULT_MEMORY_POOL for the server (default: the server's own choice)",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        help="seconds to keep the server up at the end "
        "(its pids are printed: attach py-spy, gdb, read /proc)",
    )
    parser.add_argument(
        "--idle-ab",
        metavar="BASELINE_BACKEND_DIR",
        help="only the idle tree: alternate a server run from these sources with this tree's",
    )
    parser.add_argument("--rounds", type=int, default=3, help="--idle-ab pairs")
    args = parser.parse_args()

    if args.idle_ab:
        ab = idle_ab(args.idle_ab, args.rounds, args.workers, args.settle_seconds)
        if args.json:
            print(json.dumps(ab, indent=1))
        return

    out: dict[str, Any] = {
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "arrow_pool": args.arrow_pool or os.environ.get("ARROW_DEFAULT_MEMORY_POOL"),
    }
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cxloop-mem-")))
        data_dir = tmp / "data"
        pgdata = data_dir / "postgres"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_serve(data_dir, port, args.workers, args.arrow_pool)
        stack.callback(stop, process)
        wait_http(f"{url}/readyz", timeout=120)
        server = psutil.Process(process.pid)
        write_key = create_project(data_dir)
        auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        bodies = build_bodies(1000, 50, single=False)

        time.sleep(args.settle_seconds)
        idle = describe(Snapshot(server, pgdata, exact=True))
        out["idle"] = idle
        print_table("idle after start", idle)

        rate = args.rate
        if rate is None:
            # What the server acks at most (wrk, closed loop), then 3x that offered open loop.
            body_file = tmp / "batch.jsonl"
            body_file.write_bytes(b"\n".join(bodies) + b"\n")
            worker = next(pid for pid, role in classify(server, None).items() if role == "worker-0")
            probe = run_wrk(f"{url}/v1/batch", body_file, auth, args.probe_seconds, 64, worker)
            rate = 3 * probe["rps"]
            out["probe"] = probe
            print(f"\nprobe: {probe['rps']:.0f} batches/s acked; offering {rate:.0f} batches/s")
            wait_caught_up(data_dir, args.catch_up_timeout)
        with sampling(server, pgdata) as sampler:
            result = load(port, bodies, auth, rate, args.load_seconds)
            print(f"\nload: {json.dumps(result.summary())}")
            started = time.monotonic()
            caught_up = wait_caught_up(data_dir, args.catch_up_timeout)
            print(f"pipeline caught up {caught_up:.0f} s after the load")
        out["load"] = result.summary()
        peaks = sampler.peaks()
        out["peak_during_load_and_catch_up"] = peaks
        out["catch_up_s"] = round(time.monotonic() - started, 1)
        print_table(f"peak during load and catch-up ({peaks['samples']} samples)", peaks)

        time.sleep(args.settle_seconds)
        after = describe(Snapshot(server, pgdata, exact=True))
        out["idle_after"] = after
        print_table("idle after catch-up", after)
        if args.hold:
            pids = Snapshot(server, pgdata).pids
            print(f"holding {args.hold:.0f} s; pids: {json.dumps(pids)}", flush=True)
            time.sleep(args.hold)

    pipeline_after = after["roles"].get("pipeline", {}).get("Pss", 0)
    verdicts = {
        "idle tree PSS": (idle["tree_pss"], TARGETS_MB["idle"]),
        "3x overload tree PSS (peak)": (peaks["tree_pss"], TARGETS_MB["overload"]),
        "pipeline PSS idle after catch-up": (pipeline_after, TARGETS_MB["pipeline_steady"]),
        "pipeline PSS peak": (
            peaks["roles"].get("pipeline", {}).get("Pss", 0),
            TARGETS_MB["pipeline_steady"],
        ),
    }
    print("\ntargets (server tree = cxloop's processes, PostgreSQL not included):")
    for name, (value, target) in verdicts.items():
        verdict = "pass" if value / MB <= target else "FAIL"
        print(f"  {name:<36} {value / MB:>8.1f} MB  <= {target} MB  {verdict}")
    if args.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
