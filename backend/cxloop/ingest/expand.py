"""After the ack: logged requests become event rows (``REQUEST_SCHEMA`` → ``WAL_SCHEMA``).

Enrichment (skew-corrected timestamps, batch context merged, the request's address filled in,
ids and object fields pulled out) is deterministic given what the log holds, so it runs in
the pipeline process rather than before the ack; replaying a segment gives the same rows. The
verdict is the one given in the ack: the same reference code, with the same size limit.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import pyarrow as pa

from cxloop.ingest.enrich import context_bytes, process_events
from cxloop.ingest.parse import IngestError, Limits, ParsedRequest, parse_batch, parse_single
from cxloop.ingest.timestamps import skew_corrected_timestamp, to_epoch_us
from cxloop.ingest.wire import FastEvent
from cxloop.wal import WAL_SCHEMA, EventRow, RequestRow, SegmentReadResult, columns_to_batch

__all__ = ["EXPANSION_FAILED", "events_table", "expand_requests"]

log = logging.getLogger("cxloop.ingest")

# The reason on a failed row standing for a whole logged request that could not be expanded
# (only possible if the code changed between the ack and the expansion): kept, never dropped.
EXPANSION_FAILED = "expansion_failed"

_T = TypeVar("_T")


def events_table(read: SegmentReadResult) -> pa.Table:
    """A segment's rows as ``WAL_SCHEMA`` events, expanding logged requests."""
    table = read.table()
    return expand_requests(table) if read.holds_requests else table


def expand_requests(table: pa.Table) -> pa.Table:
    """One row per event (valid, or failed with its reason) for each logged request."""
    columns: list[list[Any]] = [[] for _ in WAL_SCHEMA]
    records = zip(
        *(
            table.column(name).cast(pa.int64()).to_pylist()
            if name == "received_at"
            else table.column(name).to_pylist()
            for name in RequestRow._fields
        ),
        strict=True,
    )
    for logged in map(RequestRow._make, records):
        # A request valid throughout takes the columnar path; any other the reference path.
        if logged.events == logged.accepted and _expand_fast(columns, logged):
            continue
        rows = _expand_reference(logged)
        if rows:  # transposed in C: a Python append per value costs more than the names
            for column, values in zip(columns, zip(*rows, strict=True), strict=True):
                column += values
    return pa.Table.from_batches([columns_to_batch(columns, WAL_SCHEMA)])


def _on_fresh_stack(call: Callable[..., _T], *args: Any) -> _T:
    """``call(*args)`` on a new thread, whose stack starts near empty.

    A decoder's reach is the recursion limit less the frames above it. The ack judged the
    request with its own stack above it (and markers in place of what it could not read), so
    an event it accepted is read here, with more reach than it had; a too_deep verdict from
    the pipeline's deeper stack is never final."""
    result: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call(*args))
        except BaseException as error:  # re-raised on the calling thread
            errors.append(error)

    thread = threading.Thread(target=run, name="cxloop-expand-deep")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


class _FastBatch(msgspec.Struct, rename="camel", gc=False):
    batch: list[FastEvent]
    context: dict[str, msgspec.Raw] | None = None
    integrations: dict[str, msgspec.Raw] | None = None
    sent_at: datetime | None = None
    write_key: Any = None


_fast_batch = msgspec.json.Decoder(_FastBatch)
_fast_event = msgspec.json.Decoder(FastEvent)
_encoder = msgspec.json.Encoder()


def _expand_fast(columns: list[list[Any]], logged: RequestRow) -> bool:
    """Append the events of a request that was valid throughout, column by column, with
    one decode for the whole body. False (and nothing appended) when the request needs the
    reference path: numeric ids, unknown fields, or an event without a messageId."""
    route, body, received_at_us = logged.route, logged.body, logged.received_at
    try:
        if route is None:
            decoded = _fast_batch.decode(body)
            events = decoded.batch
        else:
            events, decoded = [_fast_event.decode(body)], None
        if not all([event.message_id for event in events]):
            return False
        batch_context = decoded.context if decoded is not None else None
        batch_sent_us = to_epoch_us(decoded.sent_at) if decoded and decoded.sent_at else None
        batch_integrations = (
            _encoder.encode(decoded.integrations) if decoded and decoded.integrations else None
        )
        contexts = [
            context_bytes(event.context, batch_context, logged.client_ip, None, None)
            for event in events
        ]
    except Exception:
        return False
    n = len(events)
    types = [route] * n if route is not None else [event.type for event in events]
    group_ids = [
        context_group
        if event_type != "group" and context_group is not None
        else (event.group_id or None)
        for event, event_type, (_, context_group) in zip(events, types, contexts, strict=True)
    ]
    originals = [
        to_epoch_us(ts) if (ts := event.timestamp or event.original_timestamp) else None
        for event in events
    ]
    sents = [
        to_epoch_us(event.sent_at) if event.sent_at is not None else batch_sent_us
        for event in events
    ]
    (
        c_project, c_message, c_type, c_event, c_name, c_user, c_anonymous, c_group,
        c_previous, c_timestamp, c_original, c_sent, c_received, c_properties, c_traits,
        c_context, c_integrations, c_extra, c_reason, c_detail, c_raw,
    ) = columns  # fmt: skip
    c_project += [logged.project_id] * n
    c_message += [event.message_id for event in events]
    c_type += types
    c_event += [event.event for event in events]
    c_name += [event.name for event in events]
    c_user += [event.user_id or None for event in events]
    c_anonymous += [event.anonymous_id or None for event in events]
    c_group += group_ids
    c_previous += [event.previous_id or None for event in events]
    c_timestamp += [
        skew_corrected_timestamp(received_at_us, original, sent)
        for original, sent in zip(originals, sents, strict=True)
    ]
    c_original += originals
    c_sent += sents
    c_received += [received_at_us] * n
    c_properties += [_object(event.properties) for event in events]
    c_traits += [_object(event.traits) for event in events]
    c_context += [context for context, _ in contexts]
    c_integrations += [_object(event.integrations) or batch_integrations for event in events]
    nones = [None] * n
    for column in (c_extra, c_reason, c_detail, c_raw):
        column += nones
    return True


def _object(raw: msgspec.Raw) -> bytes | None:
    """An object field of an event already judged valid: its bytes, or None for absent/null."""
    if not raw:
        return None
    data = bytes(raw)
    return None if data == b"null" else data


def _expand_reference(logged: RequestRow) -> list[EventRow]:
    try:
        rows: list[EventRow] | None = _reference_rows(logged)
    except Exception:  # RecursionError above all: the final attempt keeps what it cannot read
        rows = None
    if rows is None or any(row.failure_reason == "too_deep" for row in rows):
        # Nested near the decoders' reach: judged again where the stack starts near empty.
        rows = _on_fresh_stack(_final_reference_rows, logged)
    valid = sum(row.failure_reason is None for row in rows)
    if valid != logged.accepted:
        log.warning(
            "a logged request expanded to %d valid events; the ack said %d",
            valid,
            logged.accepted,
        )
    return rows


def _reference_rows(logged: RequestRow) -> list[EventRow]:
    limits = Limits(max_event_bytes=logged.max_event_bytes, max_batch_events=1 << 30)
    body, route = logged.body, logged.route
    try:
        request: ParsedRequest = (
            parse_batch(body, limits) if route is None else parse_single(body, route, limits)
        )
    except IngestError as error:
        log.error("a logged request could not be expanded (%s); kept as failed", error)
        return [_unexpandable(logged, error.message)]
    processed = process_events(
        request,
        project_id=logged.project_id,
        received_at_us=logged.received_at,
        client_ip=logged.client_ip,
        limits=limits,
    )
    return processed.rows


def _final_reference_rows(logged: RequestRow) -> list[EventRow]:
    try:
        return _reference_rows(logged)
    except Exception as error:  # a bug must not wedge the pipeline on this segment forever
        log.exception("a logged request could not be expanded; kept as failed")
        return [_unexpandable(logged, f"{type(error).__name__}: {error}")]


def _unexpandable(logged: RequestRow, detail: str) -> EventRow:
    return EventRow(
        project_id=logged.project_id,
        message_id="cxr-" + hashlib.blake2b(logged.body, digest_size=16).hexdigest(),
        type=None,
        event=None,
        name=None,
        user_id=None,
        anonymous_id=None,
        group_id=None,
        previous_id=None,
        timestamp=None,
        original_timestamp=None,
        sent_at=None,
        received_at=logged.received_at,
        properties=None,
        traits=None,
        context=None,
        integrations=None,
        extra=None,
        failure_reason=EXPANSION_FAILED,
        failure_detail=detail,
        raw=logged.body.decode("utf-8", errors="replace"),
    )
