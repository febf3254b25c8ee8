"""Operations routes: liveness, readiness and Prometheus metrics for the whole server."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from cxloop.ops.metrics import merge_snapshots, read_snapshots, render
from cxloop.ops.runtime import Runtime

__all__ = ["OpsController"]

# Short: a load balancer polls this, and a hung database must not hang the probe.
_DATABASE_PROBE_S = 1.0


class Liveness(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct, omit_defaults=True):
    """``status`` is the WAL's; ``database`` is informational (ingest acks while it is down)."""

    status: str
    wal: str
    database: str
    database_error: str | None = None


class OpsController(Controller):
    path = "/"
    tags = ["operations"]
    include_in_schema = True

    @get("/healthz", summary="The process is alive.")
    async def get_healthz(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/readyz",
        summary="Events can be acked (the WAL is writable); says whether PostgreSQL answers.",
    )
    async def get_readyz(self, request: Request[Any, Any, Any]) -> Response[Readiness]:
        runtime: Runtime = request.app.state.runtime
        reason = runtime.writer.not_ready_reason
        database_problem = await runtime.database.probe(_DATABASE_PROBE_S)
        body = Readiness(
            status="ready" if reason is None else "not_ready",
            wal="ok" if reason is None else reason,
            # Informational, not part of the status: ingest keeps acking while PostgreSQL is
            # down (the private API answers 503 database_unavailable meanwhile).
            database="ok" if database_problem is None else "unreachable",
            database_error=database_problem,
        )
        status = HTTP_200_OK if reason is None else HTTP_503_SERVICE_UNAVAILABLE
        return Response(body, status_code=status)

    @get(
        "/metrics",
        summary="Prometheus metrics, summed over every cxloop process of this data directory.",
        media_type="text/plain; version=0.0.4",
    )
    async def get_metrics(self, request: Request[Any, Any, Any]) -> str:
        runtime: Runtime = request.app.state.runtime
        await runtime.publish_metrics_snapshot()
        return render(merge_snapshots(read_snapshots(runtime.metrics_dir)))
