"""Segment-compatible ingest: the raw-ASGI routes and the service behind them, the verdict
before the ack, and after it the expansion of logged requests into enriched WAL rows."""

from typing import TYPE_CHECKING

from cxloop.access import anonymize_ip
from cxloop.ingest.enrich import process_events
from cxloop.ingest.expand import EXPANSION_FAILED, events_table, expand_requests
from cxloop.ingest.parse import IngestError, Limits, ParsedRequest, parse_batch, parse_single
from cxloop.ingest.service import IngestService, RateLimiter
from cxloop.ingest.timestamps import skew_corrected_timestamp, to_epoch_us
from cxloop.ingest.validate import EVENT_TYPES, Rejection, survey_response_problem
from cxloop.lazy import lazy_exports

if TYPE_CHECKING:
    from cxloop.ingest.asgi import INGEST_STATE_KEY, IngestFront, ingest_handlers
    from cxloop.ingest.compat import (
        SegmentCompatController,
        rudderstack_source_config,
        source_config_openapi,
    )
    from cxloop.ingest.openapi import ingest_components, ingest_path_items

# The HTTP side (the ASGI front, the compat controller, the OpenAPI path items, and Litestar
# with them) loads where a worker builds its app; the pipeline expands WAL rows without it.
__getattr__ = lazy_exports(
    __name__,
    {
        "INGEST_STATE_KEY": "cxloop.ingest.asgi",
        "IngestFront": "cxloop.ingest.asgi",
        "ingest_handlers": "cxloop.ingest.asgi",
        "SegmentCompatController": "cxloop.ingest.compat",
        "rudderstack_source_config": "cxloop.ingest.compat",
        "source_config_openapi": "cxloop.ingest.compat",
        "ingest_components": "cxloop.ingest.openapi",
        "ingest_path_items": "cxloop.ingest.openapi",
    },
)

__all__ = [
    "EVENT_TYPES",
    "EXPANSION_FAILED",
    "INGEST_STATE_KEY",
    "IngestError",
    "IngestFront",
    "IngestService",
    "Limits",
    "ParsedRequest",
    "RateLimiter",
    "Rejection",
    "SegmentCompatController",
    "anonymize_ip",
    "events_table",
    "expand_requests",
    "ingest_components",
    "ingest_handlers",
    "ingest_path_items",
    "parse_batch",
    "parse_single",
    "process_events",
    "rudderstack_source_config",
    "skew_corrected_timestamp",
    "source_config_openapi",
    "survey_response_problem",
    "to_epoch_us",
]
