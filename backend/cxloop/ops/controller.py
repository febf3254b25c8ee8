"""Operations routes: liveness, readiness and Prometheus metrics for the whole server."""

from __future__ import annotations

import time
from typing import Annotated, Any, Protocol, runtime_checkable

import msgspec
from litestar import Controller, Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from cxloop.ops.metrics import MetricSnapshot, merge_snapshots, read_snapshots, render
from cxloop.ops.runtime import Runtime

__all__ = ["BacklogSource", "OpsController", "PipelineState", "pipeline_state"]

# Short: a load balancer polls this, and a hung database must not hang the probe.
_DATABASE_PROBE_S = 1.0
# A backlog scan older than this is not shown (the scanning worker is stuck).
_BACKLOG_FRESH_S = 5.0


class Liveness(msgspec.Struct):
    status: str


class PipelineState(msgspec.Struct, omit_defaults=True):
    """The pipeline as this worker's latest scan of the WAL sees it (every 0.5 s)."""

    behind: Annotated[
        bool,
        msgspec.Meta(
            description="Back-pressure is engaged: ingest answers 503 pipeline_behind until "
            "the backlog is under 80 % of its bound."
        ),
    ]
    lag_seconds: Annotated[
        float,
        msgspec.Meta(description="Age of the oldest acked event not yet in the lake (0: none)."),
    ]
    projection_lag_seconds: Annotated[
        float,
        msgspec.Meta(description="Age of the oldest acked event not yet in PostgreSQL (0: none)."),
    ]
    backlog_bytes: Annotated[int, msgspec.Meta(description="Acked WAL bytes not yet in the lake.")]
    unprojected_bytes: Annotated[
        int, msgspec.Meta(description="Acked WAL bytes not yet in PostgreSQL.")
    ]
    drain_bytes_per_s: Annotated[
        float | None,
        msgspec.Meta(description="WAL bytes per second the pipeline took into the lake lately."),
    ] = None
    capacity_bytes_per_s: Annotated[
        float | None,
        msgspec.Meta(
            description="WAL bytes per second the pipeline drains while it has work waiting "
            "(absent: not measured in the last minute)."
        ),
    ] = None
    projected_lag_seconds: Annotated[
        float | None,
        msgspec.Meta(
            description="How long an event acked now would wait for the lake: lag + backlog / "
            "capacity (absent: no capacity); back-pressure engages past wal_backlog_max_s."
        ),
    ] = None
    reason: Annotated[
        str | None, msgspec.Meta(description="Why ingest is refused, when it is.")
    ] = None
    retry_after_seconds: Annotated[
        int | None, msgspec.Meta(description="The Retry-After ingest answers with meanwhile.")
    ] = None


class Readiness(msgspec.Struct, omit_defaults=True):
    """``status`` is ``ready`` when ingest acks: the WAL is writable and the pipeline is not so
    far behind that ingest refuses (back-pressure). ``database`` is informational (ingest acks
    while it is down)."""

    status: Annotated[str, msgspec.Meta(description="ready | not_ready")]
    wal: Annotated[str, msgspec.Meta(description="ok, or why the WAL cannot be written.")]
    database: Annotated[str, msgspec.Meta(description="ok | unreachable (informational).")]
    database_error: str | None = None
    pipeline: PipelineState | None = None


class _BacklogView(Protocol):
    """What ``cxloop.wal.BacklogView`` holds (the WAL sits above ops)."""

    @property
    def scanned_at(self) -> float: ...
    @property
    def lag_s(self) -> float: ...
    @property
    def projection_lag_s(self) -> float: ...
    @property
    def pending_bytes(self) -> int: ...
    @property
    def unprojected_bytes(self) -> int: ...
    @property
    def drain_bytes_per_s(self) -> float | None: ...
    @property
    def capacity_bytes_per_s(self) -> float | None: ...
    @property
    def projected_lag_s(self) -> float | None: ...
    @property
    def behind(self) -> _Behind | None: ...


class _Behind(Protocol):
    @property
    def reason(self) -> str: ...
    @property
    def retry_after_s(self) -> int: ...


@runtime_checkable
class BacklogSource(Protocol):
    """A WAL writer that scans the backlog (``cxloop.wal.WalWriter``)."""

    @property
    def backlog_view(self) -> _BacklogView | None: ...


def pipeline_state(source: object, now: float | None = None) -> PipelineState | None:
    """The pipeline's state from the writer's latest backlog scan; None when there is no
    fresh one (no scanning writer, or its scans stopped)."""
    if not isinstance(source, BacklogSource):
        return None
    view = source.backlog_view
    now = time.monotonic() if now is None else now
    if view is None or now - view.scanned_at > _BACKLOG_FRESH_S:
        return None
    behind = view.behind
    return PipelineState(
        behind=behind is not None,
        lag_seconds=round(view.lag_s, 3),
        projection_lag_seconds=round(view.projection_lag_s, 3),
        backlog_bytes=view.pending_bytes,
        unprojected_bytes=view.unprojected_bytes,
        drain_bytes_per_s=(
            None if view.drain_bytes_per_s is None else round(view.drain_bytes_per_s, 1)
        ),
        capacity_bytes_per_s=(
            None if view.capacity_bytes_per_s is None else round(view.capacity_bytes_per_s, 1)
        ),
        projected_lag_seconds=(
            None if view.projected_lag_s is None else round(view.projected_lag_s, 3)
        ),
        reason=None if behind is None else behind.reason,
        retry_after_seconds=None if behind is None else behind.retry_after_s,
    )


# The backlog gauges, published only from a worker's live scan of the WAL: a pipeline that
# published them would go on saying, once stopped or dead, what it said when it stopped.
_BACKLOG_GAUGES = (
    ("cxloop_pipeline_lag_seconds", "lag_seconds",
     "Age of the oldest acked event not yet in the lake (0 when none)."),
    ("cxloop_projection_lag_seconds", "projection_lag_seconds",
     "Age of the oldest acked event not yet projected into PostgreSQL (0 when none)."),
    ("cxloop_wal_backlog_bytes", "backlog_bytes",
     "Acked WAL bytes not yet in the lake (open segments holding frames, sealed)."),
    ("cxloop_wal_unprojected_bytes", "unprojected_bytes",
     "Acked WAL bytes not yet in PostgreSQL (also compacted segments)."),
)  # fmt: skip


def _with_live_backlog(
    merged: dict[str, MetricSnapshot], state: PipelineState | None
) -> dict[str, MetricSnapshot]:
    if state is None:
        return merged
    for name, attribute, help_text in _BACKLOG_GAUGES:
        value = float(getattr(state, attribute))
        merged[name] = MetricSnapshot(
            kind="gauge", help=help_text, labels=[], samples=[([], value)]
        )
    return merged


class OpsController(Controller):
    path = "/"
    tags = ["operations"]
    include_in_schema = True

    @get("/healthz", summary="The process is alive.")
    async def get_healthz(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/readyz",
        summary="Events can be acked: the WAL is writable and the pipeline is not so far "
        "behind that ingest refuses (503 otherwise); says whether PostgreSQL answers.",
        description="503 when the WAL cannot be written, or while back-pressure refuses "
        "ingest because the pipeline is behind (`pipeline.behind`, with the reason and the "
        "Retry-After ingest gives): a load balancer then sends events elsewhere. `pipeline` "
        "carries the lag and backlog of the latest WAL scan either way.",
    )
    async def get_readyz(self, request: Request[Any, Any, Any]) -> Response[Readiness]:
        runtime: Runtime = request.app.state.runtime
        reason = runtime.writer.not_ready_reason
        pipeline = pipeline_state(runtime.writer)
        database_problem = await runtime.database.probe(_DATABASE_PROBE_S)
        ready = reason is None and not (pipeline is not None and pipeline.behind)
        body = Readiness(
            status="ready" if ready else "not_ready",
            wal="ok" if reason is None else reason,
            # Informational, not part of the status: ingest keeps acking while PostgreSQL is
            # down (the private API answers 503 database_unavailable meanwhile).
            database="ok" if database_problem is None else "unreachable",
            database_error=database_problem,
            pipeline=pipeline,
        )
        status = HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE
        return Response(body, status_code=status)

    @get(
        "/metrics",
        summary="Prometheus metrics, summed over every cxloop process of this data directory.",
        media_type="text/plain; version=0.0.4",
    )
    async def get_metrics(self, request: Request[Any, Any, Any]) -> str:
        runtime: Runtime = request.app.state.runtime
        await runtime.publish_metrics_snapshot()
        merged = merge_snapshots(read_snapshots(runtime.metrics_dir))
        return render(_with_live_backlog(merged, pipeline_state(runtime.writer)))
