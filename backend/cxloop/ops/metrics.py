"""A small metrics registry rendered in Prometheus text format.

Each cxloop process (ingest workers, the pipeline) keeps its own registry and writes a snapshot
file every second; ``/metrics`` on any worker sums all snapshots, so a scrape through a load
balancer sees the whole server, not one random worker.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import msgspec

__all__ = [
    "ACK_LATENCY_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
    "Snapshot",
    "merge_snapshots",
    "read_snapshots",
    "render",
    "write_snapshot_bytes",
]

LabelValues = tuple[str, ...]

DEFAULT_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip

# Finer around the ack budget (25 ms), so a p99 can be read off the histogram to a few ms.
ACK_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.0225,
    0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[LabelValues, float] = {}
        if not self.labels:
            self.values[()] = 0.0

    def inc(self, amount: float = 1.0, *labels: str) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[LabelValues, float] = {}
        if not self.labels:
            self.values[()] = 0.0

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text)
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)  # last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value


class Snapshot(msgspec.Struct):
    """What one process reports: metric name -> help, kind, and samples."""

    pid: int
    written_at: float
    metrics: dict[str, MetricSnapshot]


class MetricSnapshot(msgspec.Struct):
    kind: str
    help: str
    labels: list[str]
    # For counters/gauges: [label values..., value]; for histograms: bucket bounds and counts.
    samples: list[tuple[list[str], float]] = []
    buckets: list[float] = []
    counts: list[int] = []
    total: float = 0.0


M = TypeVar("M", bound=_Metric)


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: M) -> M:
        existing = self._metrics.get(metric.name)
        if existing is not None:
            if type(existing) is not type(metric):
                raise ValueError(f"metric {metric.name} registered twice with different kinds")
            return existing
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        return self.register(Counter(name, help_text, labels))

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Gauge:
        return self.register(Gauge(name, help_text, labels))

    def histogram(
        self, name: str, help_text: str, buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS
    ) -> Histogram:
        return self.register(Histogram(name, help_text, buckets))

    def snapshot(self) -> Snapshot:
        out: dict[str, MetricSnapshot] = {}
        for metric in self._metrics.values():
            snap = MetricSnapshot(kind=metric.kind, help=metric.help, labels=list(metric.labels))
            if isinstance(metric, Counter | Gauge):
                snap.samples = [(list(k), v) for k, v in metric.values.items()]
            elif isinstance(metric, Histogram):
                snap.buckets = list(metric.buckets)
                snap.counts = list(metric.counts)
                snap.total = metric.total
            out[metric.name] = snap
        return Snapshot(pid=os.getpid(), written_at=time.time(), metrics=out)

    def write_snapshot(self, path: Path) -> None:
        """Atomically replace ``path`` with this registry's snapshot."""
        write_snapshot_bytes(path, self.snapshot_bytes())

    def snapshot_bytes(self) -> bytes:
        return msgspec.json.encode(self.snapshot())


def write_snapshot_bytes(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (no fsync: a snapshot is rewritten every
    second and a lost one only makes ``/metrics`` a second staler)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


_snapshot_decoder = msgspec.json.Decoder(Snapshot)


def read_snapshots(directory: Path) -> list[Snapshot]:
    snapshots = []
    for path in sorted(directory.glob("*.json")):
        try:
            snapshots.append(_snapshot_decoder.decode(path.read_bytes()))
        except (OSError, msgspec.DecodeError):
            continue  # being replaced right now, or a dead process's half-written file
    return snapshots


def merge_snapshots(snapshots: Iterable[Snapshot]) -> dict[str, MetricSnapshot]:
    """Sum counters and histograms; gauges are summed too (each process owns distinct work)."""
    merged: dict[str, MetricSnapshot] = {}
    for snapshot in snapshots:
        for name, metric in snapshot.metrics.items():
            into = merged.get(name)
            if into is None:
                merged[name] = msgspec.structs.replace(
                    metric,
                    samples=list(metric.samples),
                    counts=list(metric.counts),
                )
                continue
            values = {tuple(labels): value for labels, value in into.samples}
            for labels, value in metric.samples:
                key = tuple(labels)
                values[key] = values.get(key, 0.0) + value
            into.samples = [(list(k), v) for k, v in values.items()]
            if metric.counts and len(metric.counts) == len(into.counts):
                into.counts = [a + b for a, b in zip(into.counts, metric.counts, strict=True)]
                into.total += metric.total
    return merged


def _labels_text(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=False)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(metrics: dict[str, MetricSnapshot]) -> str:
    lines: list[str] = []
    for name in sorted(metrics):
        metric = metrics[name]
        lines.append(f"# HELP {name} {metric.help}")
        lines.append(f"# TYPE {name} {metric.kind}")
        if metric.kind == "histogram":
            cumulative = 0
            for bound, count in zip([*metric.buckets, float("inf")], metric.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
            lines.append(f"{name}_sum {metric.total}")
            lines.append(f"{name}_count {cumulative}")
        else:
            for labels, value in sorted(metric.samples):
                lines.append(f"{name}{_labels_text(metric.labels, labels)} {value:g}")
    return "\n".join(lines) + "\n"
