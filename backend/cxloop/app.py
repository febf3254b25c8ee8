"""``create_app(settings)``: the one place the Litestar application is assembled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.plugins import PluginProtocol
from litestar.plugins.core import MsgspecDIPlugin

from cxloop import __version__
from cxloop.alerts import AlertsController
from cxloop.api import (
    DATABASE_STATE_KEY,
    PROJECT_AUTH_STATE_KEY,
    SETTINGS_STATE_KEY,
    WRITE_KEYS_STATE_KEY,
    ApiGuardMiddleware,
    ProjectAuth,
    api_exception_handlers,
    document_error_answers,
    document_raw_routes,
    openapi_config,
    private_router,
    public_router,
    security_headers,
)
from cxloop.console import ConsoleController, load_console
from cxloop.db import ResilientPool
from cxloop.health import (
    AccountsController,
    CalibrationController,
    HealthController,
    PortfolioController,
)
from cxloop.ingest import (
    INGEST_STATE_KEY,
    IngestService,
    Limits,
    RateLimiter,
    SegmentCompatController,
    ingest_components,
    ingest_handlers,
    ingest_path_items,
    rudderstack_source_config,
    source_config_openapi,
)
from cxloop.insights import DriversController, InsightsTextController, RatingsController
from cxloop.ops import (
    GcWatch,
    OpsController,
    Registry,
    Runtime,
    freeze_startup_objects,
    release_memory,
    watch_loop_lag,
)
from cxloop.privacy import PRIVACY_HANDLERS
from cxloop.projects import (
    SUPPRESSIONS_STATE_KEY,
    DatabaseKeyResolver,
    SuppressionList,
    WriteKeyCache,
)
from cxloop.sdk import DemoController, SdkController, find_demo_dir, find_sdk_dir, load_bundle
from cxloop.settings import Settings
from cxloop.surveys import ResponsesController, SdkConfigController, SurveysController
from cxloop.team import TEAM_PRIVATE_HANDLERS, TEAM_PUBLIC_HANDLERS
from cxloop.views import ViewsController
from cxloop.wal import WalWriter, acquire_slot, recover_slot
from cxloop.webhooks import WebhooksController

__all__ = ["create_app"]

log = logging.getLogger("cxloop.app")

# How often a worker hands freed memory back to the system (``cxloop.ops.release_memory``).
MEMORY_RELEASE_S = 10.0

# One lifespan per resource, entered in this order and left in the reverse one: the metrics
# registry outlives everything that counts into it, the WAL writer outlives the routes that
# append to it, the pool outlives the key cache that queries it.


class _MsgspecLitestar(Litestar):
    """Litestar without the plugins it adds for pydantic and attrs whenever they are installed
    (they are, for other tools): every model here is a msgspec Struct, and the two plugins
    made each worker import pydantic and attrs (~7 MB RSS; ARCHITECTURE.md, lean processes).
    The OpenAPI schema is the same without them (tests/unit/test_app_imports.py)."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        plugins.append(MsgspecDIPlugin())
        return plugins


@asynccontextmanager
async def metrics_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The registry, and the last snapshot once everything else has stopped counting."""
    registry = Registry()
    app.state.registry = registry
    gc_watch = GcWatch(registry)
    app.state.gc_watch = gc_watch
    try:
        yield
    finally:
        runtime: Runtime | None = app.state.get("runtime")
        if runtime is not None:
            with contextlib.suppress(OSError):
                runtime.write_metrics_snapshot()
        gc_watch.uninstall()


@asynccontextmanager
async def wal_lifespan(app: Litestar) -> AsyncIterator[None]:
    """This worker's WAL slot (recovered first) and its group-commit writer."""
    settings: Settings = app.state.settings
    registry: Registry = app.state.registry
    slot, slot_lock_fd = acquire_slot(settings.wal_dir)
    try:
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
            backlog_max_bytes=settings.wal_backlog_max_bytes,
            backlog_max_s=settings.wal_backlog_max_s,
        )
        await writer.start()
        app.state.wal_writer = writer
        try:
            yield
        finally:
            await writer.close()
    finally:
        os.close(slot_lock_fd)


@asynccontextmanager
async def database_lifespan(app: Litestar) -> AsyncIterator[None]:
    """The pool; it keeps reconnecting in the background while PostgreSQL is down."""
    settings: Settings = app.state.settings
    assert settings.database_url is not None  # checked by create_app
    database = ResilientPool(settings.database_url)
    await database.start()
    app.state[DATABASE_STATE_KEY] = database
    try:
        yield
    finally:
        await database.close()


@asynccontextmanager
async def write_keys_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Write keys in memory (mirrored to ``state/write_keys.json``), refreshed in the background."""
    settings: Settings = app.state.settings
    database: ResilientPool = app.state[DATABASE_STATE_KEY]
    cache = WriteKeyCache(settings.state_dir / "write_keys.json")
    app.state[WRITE_KEYS_STATE_KEY] = DatabaseKeyResolver(cache, database)

    async def refresh() -> None:
        await database.connected.wait()
        assert database.pool is not None
        await cache.run_refresher(database.pool, settings.key_refresh_s)

    async with _background(refresh(), name="cxloop-key-refresh"):
        yield


@asynccontextmanager
async def suppressions_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Deleted subjects in memory (mirrored to ``state/suppressions.json``), refreshed like
    the write keys: ingest refuses their events (docs/privacy.md)."""
    settings: Settings = app.state.settings
    database: ResilientPool = app.state[DATABASE_STATE_KEY]
    suppressions = SuppressionList(settings.state_dir / "suppressions.json")
    app.state[SUPPRESSIONS_STATE_KEY] = suppressions

    async def refresh() -> None:
        await database.connected.wait()
        assert database.pool is not None
        await suppressions.run_refresher(database.pool, settings.key_refresh_s)

    async with _background(refresh(), name="cxloop-suppression-refresh"):
        yield


@asynccontextmanager
async def serving_lifespan(app: Litestar) -> AsyncIterator[None]:
    """What the routes read: the runtime, the ingest service, the SDK files; metrics publishing."""
    settings: Settings = app.state.settings
    registry: Registry = app.state.registry
    writer: WalWriter = app.state.wal_writer
    metrics_dir = settings.state_dir / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime(
        registry=registry,
        writer=writer,
        database=app.state[DATABASE_STATE_KEY],
        metrics_dir=metrics_dir,
        process_name=writer.slot.name,
    )
    app.state.runtime = runtime
    app.state[PROJECT_AUTH_STATE_KEY] = ProjectAuth()
    app.state.demo_dir = find_demo_dir()
    app.state.demo_state_file = settings.state_dir / "demo.json"
    app.state.sdk_bundle = load_bundle(find_sdk_dir(settings.sdk_dir))
    app.state.console_bundle = load_console()
    app.state[INGEST_STATE_KEY] = IngestService(
        writer=writer,
        keys=app.state[WRITE_KEYS_STATE_KEY],
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
        suppressions=app.state[SUPPRESSIONS_STATE_KEY],
    )

    async def publish_metrics() -> None:
        while True:
            with contextlib.suppress(OSError):
                await runtime.publish_metrics_snapshot()
            await asyncio.sleep(1.0)

    async def release_freed_memory() -> None:
        # A burst of large batches leaves the heap grown (glibc arenas, Arrow's pool) long
        # after the requests are gone; handed back in a thread, the loop keeps acking.
        while True:
            await asyncio.sleep(MEMORY_RELEASE_S)
            await asyncio.to_thread(release_memory)

    async with (
        _background(publish_metrics(), name="cxloop-metrics"),
        _background(watch_loop_lag(registry), name="cxloop-loop-lag"),
        _background(release_freed_memory(), name="cxloop-memory-release"),
    ):
        freeze_startup_objects(registry)
        # Watched from here on: the collection that freezing runs is start-up, not serving.
        app.state.gc_watch.install()
        yield


@asynccontextmanager
async def _background(work: Coroutine[Any, Any, None], *, name: str) -> AsyncIterator[None]:
    """Run ``work`` as a task for the duration of the block; cancelled when it ends."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def create_app(settings: Settings) -> Litestar:
    if not settings.database_url:
        raise ValueError(
            "create_app needs settings.database_url; `cxloop serve` starts the embedded "
            "PostgreSQL and fills it in"
        )

    # Layers: the guard wraps every controller (not the raw-ASGI ingest routes, where any
    # middleware would add Litestar's exception-handler layer to the hot path); the private
    # router adds the secret key and hands its handlers a connection checked out after it.
    private = private_router(
        SurveysController,
        ResponsesController,
        HealthController,
        CalibrationController,
        AccountsController,
        PortfolioController,
        ViewsController,
        DriversController,
        RatingsController,
        InsightsTextController,
        AlertsController,
        WebhooksController,
        *TEAM_PRIVATE_HANDLERS,
        *PRIVACY_HANDLERS,
    )
    public = public_router(
        SegmentCompatController,
        rudderstack_source_config,
        OpsController,
        SdkController,
        SdkConfigController,
        DemoController,
        ConsoleController,
        *TEAM_PUBLIC_HANDLERS,
    )
    guarded = Router(path="/", middleware=[ApiGuardMiddleware()], route_handlers=[public, private])
    app = _MsgspecLitestar(
        route_handlers=[*ingest_handlers(), guarded],
        exception_handlers=api_exception_handlers,
        state=State({SETTINGS_STATE_KEY: settings}),
        lifespan=[
            metrics_lifespan,
            wal_lifespan,
            database_lifespan,
            write_keys_lifespan,
            suppressions_lifespan,
            serving_lifespan,
        ],
        # Swagger UI from this server (no CDN) at /schema; security headers on every answer.
        openapi_config=openapi_config(title="cxloop", version=__version__),
        before_send=[security_headers],
        debug=False,
    )
    document_error_answers(app)
    ingest_schemas, write_key_security = ingest_components()
    source_config_paths, source_config_schemas = source_config_openapi()
    document_raw_routes(
        app,
        {**ingest_path_items(), **source_config_paths},
        {**ingest_schemas, **source_config_schemas},
        write_key_security,
    )
    return app
