"""``create_app(settings)``: the one place the Litestar application is assembled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, Router

from cxloop import __version__
from cxloop.alerts import AlertsController
from cxloop.api import (
    ApiGuardMiddleware,
    ProjectAuth,
    api_exception_handlers,
    document_error_answers,
)
from cxloop.api.docs import openapi_config
from cxloop.api.headers import security_headers
from cxloop.db.connection import ResilientPool
from cxloop.health import AccountsController, HealthController
from cxloop.ingest.asgi import INGEST_STATE_KEY, ingest_handlers
from cxloop.ingest.compat import SegmentCompatController, rudderstack_source_config
from cxloop.ingest.decode import Limits
from cxloop.ingest.service import IngestService, LookupUnavailable, RateLimiter
from cxloop.ops.controller import OpsController
from cxloop.ops.metrics import Registry
from cxloop.ops.pauses import GcWatch, freeze_startup_objects, watch_loop_lag
from cxloop.ops.runtime import Runtime
from cxloop.projects import WriteKeyCache
from cxloop.sdk import SdkController, find_sdk_dir, load_bundle
from cxloop.sdk.demo import DemoController, find_demo_dir
from cxloop.settings import Settings
from cxloop.surveys import ResponsesController, SdkConfigController, SurveysController
from cxloop.wal import WalWriter, acquire_slot, recover_slot
from cxloop.webhooks import WebhooksController

__all__ = ["create_app"]

log = logging.getLogger("cxloop.app")


class DatabaseKeyResolver:
    """Write keys from memory; a miss asks PostgreSQL, or says it cannot when it is down."""

    def __init__(self, cache: WriteKeyCache, database: ResilientPool) -> None:
        self.cache = cache
        self.database = database

    def resolve(self, write_key: str) -> str | None:
        return self.cache.resolve(write_key)

    async def resolve_miss(self, write_key: str) -> str | None:
        if self.database.pool is None:
            raise LookupUnavailable
        try:
            return await self.cache.lookup_miss(self.database.pool, write_key)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise LookupUnavailable from exc


def create_app(settings: Settings) -> Litestar:
    if not settings.database_url:
        raise ValueError(
            "create_app needs settings.database_url; `cxloop serve` starts the embedded "
            "PostgreSQL and fills it in"
        )
    database_url = settings.database_url

    @asynccontextmanager
    async def runtime_lifespan(app: Litestar) -> AsyncIterator[None]:
        registry = Registry()
        gc_watch = GcWatch(registry)
        metrics_dir = settings.state_dir / "metrics"
        metrics_dir.mkdir(parents=True, exist_ok=True)

        slot, slot_lock_fd = acquire_slot(settings.wal_dir)
        report = recover_slot(slot)
        registry.counter(
            "cxloop_wal_recovered_torn_tails_total",
            "Torn final WAL writes cut off at start-up (never acked).",
        ).inc(report.torn_tails)
        if report.segments:
            log.info(
                "WAL %s: recovered %d segment(s) with %d events (%d torn tail(s) cut)",
                slot.name, report.segments, report.rows, report.torn_tails,
            )  # fmt: skip
        writer = WalWriter(
            slot,
            registry=registry,
            fsync=settings.wal_fsync,
            segment_max_bytes=settings.wal_segment_max_bytes,
            segment_max_age_s=settings.wal_segment_max_age_s,
            max_pending_events=settings.max_pending_events,
            min_free_bytes=settings.min_free_bytes,
        )
        await writer.start()

        database = ResilientPool(database_url)
        await database.start()
        keys = WriteKeyCache(settings.state_dir / "write_keys.json")
        runtime = Runtime(
            registry=registry,
            writer=writer,
            database=database,
            metrics_dir=metrics_dir,
            process_name=slot.name,
        )
        app.state.runtime = runtime
        app.state.project_auth = ProjectAuth()
        app.state.settings = settings
        app.state.demo_dir = find_demo_dir()
        app.state.demo_state_file = settings.state_dir / "demo.json"
        app.state.sdk_bundle = load_bundle(find_sdk_dir(settings.sdk_dir))
        app.state[INGEST_STATE_KEY] = IngestService(
            writer=writer,
            keys=DatabaseKeyResolver(keys, database),
            registry=registry,
            limits=Limits(
                max_event_bytes=settings.max_event_bytes,
                max_batch_events=settings.max_batch_events,
            ),
            max_request_bytes=settings.max_request_bytes,
            rate_limiter=RateLimiter(settings.project_rate_limit),
            max_inflight_requests=settings.max_inflight_requests,
            max_requests_per_client=settings.max_requests_per_client,
            body_timeout_s=settings.body_timeout_s,
            trust_forwarded_for=settings.trust_forwarded_for,
        )

        async def refresh_keys() -> None:
            await database.connected.wait()
            assert database.pool is not None
            await keys.run_refresher(database.pool, settings.key_refresh_s)

        async def publish_metrics() -> None:
            while True:
                with contextlib.suppress(OSError):
                    await runtime.publish_metrics_snapshot()
                await asyncio.sleep(1.0)

        tasks = [
            asyncio.create_task(refresh_keys(), name="cxloop-key-refresh"),
            asyncio.create_task(publish_metrics(), name="cxloop-metrics"),
            asyncio.create_task(watch_loop_lag(registry), name="cxloop-loop-lag"),
        ]
        freeze_startup_objects(registry)
        # Watched from here on: the collection that freezing runs is start-up, not serving.
        gc_watch.install()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await writer.close()
            with contextlib.suppress(OSError):
                runtime.write_metrics_snapshot()
            await database.close()
            os.close(slot_lock_fd)
            gc_watch.uninstall()

    # The guard wraps the controllers only: on the raw-ASGI ingest routes any middleware
    # would also add Litestar's exception-handler layer to the hot path.
    guarded = Router(
        path="/",
        middleware=[ApiGuardMiddleware()],
        route_handlers=[
            SegmentCompatController,
            rudderstack_source_config,
            OpsController,
            SdkController,
            SdkConfigController,
            SurveysController,
            ResponsesController,
            HealthController,
            AccountsController,
            DemoController,
            # Alerts and webhooks controllers are registered below this line.
            AlertsController,
            WebhooksController,
        ],
    )
    app = Litestar(
        route_handlers=[*ingest_handlers(), guarded],
        exception_handlers=api_exception_handlers,
        lifespan=[runtime_lifespan],
        # Swagger UI from this server (no CDN) at /schema; security headers on every answer.
        openapi_config=openapi_config(title="cxloop", version=__version__),
        before_send=[security_headers],
        debug=False,
    )
    document_error_answers(app)
    return app
