"""Segment-compatible ingest: decoding, validation and enrichment of events into WAL rows."""

from cxloop.ingest.enrich import process_events
from cxloop.ingest.expand import EXPANSION_FAILED, events_table, expand_requests
from cxloop.ingest.parse import IngestError, Limits, ParsedRequest, parse_batch, parse_single
from cxloop.ingest.privacy import anonymize_ip
from cxloop.ingest.timestamps import skew_corrected_timestamp, to_epoch_us
from cxloop.ingest.validate import EVENT_TYPES, Rejection, survey_response_problem

__all__ = [
    "EVENT_TYPES",
    "EXPANSION_FAILED",
    "IngestError",
    "Limits",
    "ParsedRequest",
    "Rejection",
    "anonymize_ip",
    "events_table",
    "expand_requests",
    "parse_batch",
    "parse_single",
    "process_events",
    "skew_corrected_timestamp",
    "survey_response_problem",
    "to_epoch_us",
]
