"""Several ``cxloop serve`` nodes on this machine, as separate machines would run them: one
PostgreSQL, one lake on a locally served S3 API (moto), a data directory per node.

``running_cluster(n)`` starts the lot and yields a :class:`Cluster`: nodes can be stopped,
killed with SIGKILL and restarted on their own data directory; the lake is read straight from
the object store with pyarrow (not through cxloop's readers), so the tests judge what an
outside engine would see.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from cxloop.wal import backlog
from tests.helpers.processes import run_cli, scratch_dir
from tests.helpers.s3 import S3Server, s3_server
from tests.helpers.server import RunningServer, server_env, start_server

__all__ = [
    "NODE_SETTINGS",
    "Cluster",
    "LakeFile",
    "LakeSnapshot",
    "Node",
    "read_lake",
    "running_cluster",
]

# Fresh lake quickly: short segments, a quick pipeline, no free-disk floor on a shared machine;
# the health refresh only on request, so a test decides when scores are computed.
NODE_SETTINGS: dict[str, Any] = {
    "wal_segment_max_age_s": 0.2,
    "pipeline_poll_s": 0.05,
    "min_free_bytes": 0,
    "key_refresh_s": 0.5,
    "health_refresh_s": 0,
}

# The footer key a merged lake file names its sources under (lake/rewrite.py).
MERGED_FROM = b"cxloop.merged_from"

T = TypeVar("T")


@dataclass
class Node:
    """One ``cxloop serve`` with its own data directory; ``server`` is None while it is down."""

    node_id: str
    data_dir: Path
    env: dict[str, str]
    server: RunningServer | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError(f"node {self.node_id} is not running")
        return self.server.url

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.process.poll() is None

    def start(self, timeout: float = 90) -> RunningServer:
        if self.running:
            raise RuntimeError(f"node {self.node_id} is running already")
        self.server = start_server(self.env, self.data_dir, timeout=timeout)
        self.starts += 1
        return self.server

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        """Stop it (SIGKILL: every process of its group at once, mid-write); its exit code."""
        if self.server is None:
            return None
        code = self.server.stop(sig, timeout)
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, timeout: float = 90) -> RunningServer:
        """Start again on the same data directory (after a stop or a kill)."""
        if self.running:
            self.stop()
        return self.start(timeout)

    def drain(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``cxloop drain`` on this node's data directory (stopped first): its WAL emptied into
        the lake and PostgreSQL, its row in ``cluster_nodes`` removed."""
        if self.running:
            self.stop()
        return run_cli(self.env, "drain", timeout=timeout)

    def in_flight(self) -> int:
        """Segments of this node's WAL whose events may not be in the lake and PostgreSQL yet."""
        return len(backlog(self.data_dir / "wal").in_flight)

    def log(self) -> str:
        """Every log this node's starts wrote, oldest first."""
        logs = sorted(self.data_dir.glob("serve-*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in logs)


@dataclass(frozen=True)
class LakeFile:
    path: str  # the key inside the filesystem
    project_id: str
    date: str
    merged_from: tuple[str, ...]  # source names, for a merged file

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def partition(self) -> str:
        return self.path.rpartition("/")[0]


@dataclass
class LakeSnapshot:
    """One listing of a lake store and the ``(project_id, message_id)`` of every row in it."""

    files: list[LakeFile]
    rows: dict[str, list[tuple[str, str]]]  # file path -> its rows' (project_id, message_id)

    @property
    def shadowed(self) -> set[str]:
        """Paths of files a merged file of the same partition names as its sources: cxloop's
        readers skip them (a merge is PUT first, its sources deleted after)."""
        named: set[str] = set()
        for file in self.files:
            named.update(f"{file.partition}/{source}" for source in file.merged_from)
        return {f.path for f in self.files if f.path in named}

    def counts(self, *, raw: bool = False) -> Counter[tuple[str, str]]:
        """Rows per ``(project_id, message_id)``: as cxloop reads the lake, or (``raw``) as an
        engine that lists every file sees it."""
        skip = set() if raw else self.shadowed
        counter: Counter[tuple[str, str]] = Counter()
        for path, rows in self.rows.items():
            if path not in skip:
                counter.update(rows)
        return counter

    def ids(self, project_id: str | None = None) -> set[str]:
        return {m for p, m in self.counts() if project_id is None or p == project_id}

    def duplicates(self, *, raw: bool = False) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.counts(raw=raw).items() if n > 1}

    def explain(self, keys: Iterable[tuple[str, str]], limit: int = 5) -> str:
        """Which files hold each of ``keys`` (the first ``limit``): for a failure's message."""
        wanted = list(keys)[:limit]
        by_path = {f.path: f for f in self.files}
        shadowed = self.shadowed
        lines = []
        for key in wanted:
            holders = [path for path, rows in self.rows.items() if key in rows]
            described = [
                f"{by_path[p].name} ({'shadowed, ' if p in shadowed else ''}"
                f"merged from {len(by_path[p].merged_from)})"
                for p in holders
            ]
            lines.append(f"{key[1]}: {', '.join(described)}")
        return "\n".join(lines)

    def node_files(self) -> Counter[str]:
        """Files per writing node, from ``part-<node>.<segment>.parquet`` names."""
        nodes: Counter[str] = Counter()
        for file in self.files:
            stem = file.name.removeprefix("part-").removesuffix(".parquet")
            if "." in stem:
                nodes[stem.partition(".")[0]] += 1
        return nodes


def _retrying(read: Callable[[], T], attempts: int = 20) -> T:
    """``read()`` again when a file listed a moment ago was deleted by a merge meanwhile."""
    for attempt in range(attempts):
        try:
            return read()
        except (FileNotFoundError, OSError, pa.ArrowInvalid):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def read_lake(fs: pafs.FileSystem, root: str, store: str = "events") -> LakeSnapshot:
    """Every Parquet file under ``<root>/<store>`` and the ids of its rows, read with pyarrow
    alone; consistent per listing (the whole read is retried when a listed file vanished)."""

    def read() -> LakeSnapshot:
        base = f"{root}/{store}"
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        files: list[LakeFile] = []
        rows: dict[str, list[tuple[str, str]]] = {}
        for info in fs.get_file_info(selector):
            name = info.base_name
            if info.type != pafs.FileType.File or not name.endswith(".parquet"):
                continue
            if name.startswith((".", "_")):  # temp files on a local lake
                continue
            partition = dict(
                part.split("=", 1) for part in info.path[len(base) + 1 :].split("/")[:-1]
            )
            parquet = pq.ParquetFile(info.path, filesystem=fs)
            metadata = parquet.metadata.metadata or {}
            merged_from = (
                tuple(json.loads(metadata[MERGED_FROM])) if MERGED_FROM in metadata else ()
            )
            files.append(
                LakeFile(info.path, partition["project_id"], partition["date"], merged_from)
            )
            ids = parquet.read(columns=["message_id"]).column("message_id").to_pylist()
            rows[info.path] = [(partition["project_id"], i) for i in ids]
        return LakeSnapshot(files, rows)

    return _retrying(read)


@dataclass
class Cluster:
    """N nodes sharing ``database_url`` and the lake at ``lake_url``: on ``s3``, or a local
    directory all nodes reach (``s3`` None)."""

    database_url: str
    s3: S3Server | None
    lake_url: str
    root: Path
    settings: dict[str, Any]
    nodes: dict[str, Node] = field(default_factory=dict)

    def add_node(self, node_id: str | None = None, start: bool = True) -> Node:
        """A new node with a fresh data directory (started unless ``start`` is False)."""
        node_id = node_id or f"n{len(self.nodes) + 1}"
        data_dir = self.root / node_id
        cluster = {"cluster": "true", "node_id": node_id, "lake_url": self.lake_url}
        if self.s3 is not None:
            cluster["s3_endpoint_url"] = self.s3.endpoint_url
        env = server_env(data_dir, self.database_url, **{**self.settings, **cluster})
        if self.s3 is not None:
            env.update(self.s3.env())
        node = Node(node_id, data_dir, env)
        self.nodes[node_id] = node
        if start:
            node.start()
        return node

    def running(self) -> list[Node]:
        # A copy first: a node may be added from another thread meanwhile.
        return [n for n in list(self.nodes.values()) if n.running]

    @property
    def lake_root(self) -> str:
        """The lake's root inside ``filesystem()``: ``bucket/prefix``, or the directory."""
        return self.lake_url.removeprefix("s3://").rstrip("/")

    def filesystem(self) -> pafs.FileSystem:
        return pafs.LocalFileSystem() if self.s3 is None else self.s3.filesystem()

    def lake(self, store: str = "events") -> LakeSnapshot:
        return read_lake(self.filesystem(), self.lake_root, store)

    def wait_for_lake(
        self, expected: set[str], project_id: str | None = None, timeout: float = 90
    ) -> LakeSnapshot:
        """Until every id of ``expected`` is in the lake (as cxloop reads it); the snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.lake()
            missing = expected - snapshot.ids(project_id)
            if not missing:
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(missing)} acked ids never reached the lake within {timeout} s, "
                    f"e.g. {sorted(missing)[:5]}"
                )
            time.sleep(0.5)

    def wait_until_projected(self, timeout: float = 90) -> None:
        """Until no node's WAL holds a segment whose events may be missing from the lake or
        PostgreSQL (the pipeline deletes a segment once it is projected)."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = {n.node_id: n.in_flight() for n in list(self.nodes.values())}
            if not any(waiting.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"segments still in flight after {timeout} s: {waiting}")
            time.sleep(0.3)

    def logs(self) -> str:
        return "\n".join(f"===== node {n.node_id}\n{n.log()}" for n in self.nodes.values())

    def stop_all(self) -> None:
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                node.stop()


@contextlib.contextmanager
def running_cluster(
    nodes: int,
    root: Path,
    database_url: str | None = None,
    *,
    lake: Literal["s3", "directory"] = "s3",
    s3: S3Server | None = None,
    **settings: Any,
) -> Iterator[Cluster]:
    """``nodes`` started nodes (``n1``…) over one PostgreSQL (``database_url``, else an embedded
    one in a scratch directory) and one lake: a new bucket on a local S3 API (``s3``, else one
    started for the cluster), or ``<root>/lake``; every node and server stopped on the way out. ``settings`` (``CXLOOP_*``
    without the prefix, lower case) come on top of :data:`NODE_SETTINGS`."""
    with contextlib.ExitStack() as stack:
        if database_url is None:
            from cxloop.db import embedded_postgres

            scratch = stack.enter_context(scratch_dir("cxloop-cluster-pg-"))
            database_url = stack.enter_context(embedded_postgres(scratch / "postgres"))
        if lake == "s3" and s3 is None:
            s3 = stack.enter_context(s3_server())
        elif lake == "directory":
            s3 = None
        lake_url = s3.lake_url() if s3 is not None else str((root / "lake").absolute())
        cluster = Cluster(database_url, s3, lake_url, root, {**NODE_SETTINGS, **settings})
        stack.callback(cluster.stop_all)
        for _ in range(nodes):
            # One after the other: the first applies the migrations, the others find them done.
            cluster.add_node()
        yield cluster
