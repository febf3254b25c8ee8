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
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any, TypeVar

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cxloop.ingest.enrich import process_events, request_contexts, splice_ip
from cxloop.ingest.parse import IngestError, Limits, ParsedRequest, parse_batch, parse_single
from cxloop.ingest.timestamps import MAX_US, MIN_US, skew_corrected_timestamps, to_epoch_us
from cxloop.ingest.wire import FastEvent
from cxloop.wal import (
    TIMESTAMP,
    WAL_SCHEMA,
    EventRow,
    RequestRow,
    SegmentReadResult,
    columns_to_batch,
)

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
    """One row per event (valid, or failed with its reason) for each logged request.

    Runs of requests valid throughout are gathered and turned into columns once per run
    (:class:`_FastRun`); any other request takes the reference path. Row order is the log's."""
    columns: list[list[Any]] = [[] for _ in WAL_SCHEMA]
    batches: list[pa.RecordBatch] = []
    fast = _FastRun()
    records = zip(
        *(
            table.column(name).cast(pa.int64()).to_pylist()
            if name == "received_at"
            else _bodies(table.column(name))
            if name == "body"
            else table.column(name).to_pylist()
            for name in RequestRow._fields
        ),
        strict=True,
    )
    for logged in map(RequestRow._make, records):
        # A request valid throughout takes the columnar path; any other the reference path.
        if logged.events == logged.accepted:
            if columns[0]:  # at most one of the two holds rows: the log's order is kept
                batches.append(columns_to_batch(columns, WAL_SCHEMA))
                columns = [[] for _ in WAL_SCHEMA]
            if fast.add(logged):
                continue
        rows = _expand_reference(logged._replace(body=bytes(logged.body)))
        if rows:  # transposed in C: a Python append per value costs more than the names
            if fast.count:
                batches.append(fast.batch())
            for column, values in zip(columns, zip(*rows, strict=True), strict=True):
                column += values
    if fast.count:
        batches.append(fast.batch())
    if columns[0] or not batches:
        batches.append(columns_to_batch(columns, WAL_SCHEMA))
    table = pa.Table.from_batches(batches, schema=WAL_SCHEMA)
    return table.combine_chunks() if len(batches) > 1 else table


def _bodies(column: pa.ChunkedArray) -> list[memoryview]:
    """The logged bodies as views of the segment's buffers (``to_pylist`` copies each)."""
    if column.type != pa.binary():  # int32 offsets below; any other type is copied
        return [memoryview(body) for body in column.to_pylist()]
    views: list[memoryview] = []
    for chunk in column.chunks:
        data, start = chunk.buffers()[2], chunk.offset
        if data is None:  # no bytes at all in this chunk
            views += [memoryview(b"")] * len(chunk)
            continue
        offsets = np.frombuffer(chunk.buffers()[1], np.int32)[start : start + len(chunk) + 1]
        buffer = memoryview(data).cast("B")
        bounds = offsets.tolist()
        views += [buffer[begin:end] for begin, end in pairwise(bounds)]
    return views


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
_NULL_TEXT = pa.scalar(None, pa.binary())
_NULL_STRING = pa.scalar(None, pa.string())


class _FastRun:
    """Requests valid throughout, gathered so a run's columns are built once, in C (Arrow
    compute over the transposed events) rather than with Python per event and column.

    :meth:`add` decodes a request's body in one call and reads its contexts; it appends
    nothing and returns False when the request needs the reference path (numeric ids,
    unknown fields, an event without a messageId). :meth:`batch` hands the run over."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.count = 0
        self.routes: list[tuple[int, str]] = []  # (position, the single-event route's type)
        self.project: list[str] = []
        self.received: list[int] = []
        self.batch_sent: list[int | None] = []
        self.batch_integrations: list[bytes | None] = []
        self.contexts: list[bytes | msgspec.Raw] = []  # empty for no context
        self.context_groups: list[str | None] = []
        self.prefixes: list[bytes | None] = []  # the request's address, to splice in
        # The events' own fields, taken while a request's events are in the CPU's caches.
        self.fields: dict[str, list[Any]] = {name: [] for name in _FIELDS}

    def add(self, logged: RequestRow) -> bool:
        route, body, client_ip = logged.route, logged.body, logged.client_ip
        try:
            if route is None:
                decoded = _fast_batch.decode(body)
                events = decoded.batch
                batch_context = decoded.context
                sent_us = to_epoch_us(decoded.sent_at) if decoded.sent_at else None
                integrations = (
                    _encoder.encode(decoded.integrations) if decoded.integrations else None
                )
            else:
                events = [_fast_event.decode(body)]
                batch_context, sent_us, integrations = None, None, None
            n = len(events)
            if not n:
                return True
            values = list(zip(*map(msgspec.structs.astuple, events), strict=True))  # in C
            if not all(values[_AT["message_id"]]):
                return False
            contexts, groups, prefix = request_contexts(
                values[_AT["context"]], batch_context, client_ip
            )
        except Exception:
            return False
        if route is not None:
            self.routes.append((self.count, route))
        self.count += n
        for name, column in self.fields.items():
            column += values[_AT[name]]
        self.project += [logged.project_id] * n
        self.received += [logged.received_at] * n
        self.batch_sent += [sent_us] * n
        self.batch_integrations += [integrations] * n
        self.contexts += contexts
        self.context_groups += groups
        self.prefixes += [prefix] * n
        return True

    def batch(self) -> pa.RecordBatch:
        """The run's rows as one ``WAL_SCHEMA`` batch; the run starts again empty."""
        n, field = self.count, self.fields
        if not n:
            return columns_to_batch([[] for _ in WAL_SCHEMA], WAL_SCHEMA)
        types = field["type"]
        for position, route in self.routes:
            types[position] = route
        type_array = pa.array(types, pa.string())
        # groupId of a group call, else context.groupId (else the event's own, if any).
        context_group = pa.array(self.context_groups, pa.string())
        own_context_group = pc.and_(
            pc.invert(pc.fill_null(pc.equal(type_array, "group"), False)),
            pc.is_valid(context_group),
        )
        group = pc.if_else(own_context_group, context_group, _ids(field["group_id"]))
        received = pa.array(self.received, pa.int64())
        original = pc.coalesce(
            _epoch_us(field["timestamp"]), _epoch_us(field["original_timestamp"])
        )
        sent = pc.coalesce(_epoch_us(field["sent_at"]), pa.array(self.batch_sent, pa.int64()))
        integrations = pc.coalesce(
            _objects(field["integrations"]), pa.array(self.batch_integrations, pa.binary())
        )
        nulls = pa.nulls(n, pa.string())
        arrays = [
            pa.array(self.project, pa.string()),
            pa.array(field["message_id"], pa.string()),
            type_array,
            pa.array(field["event"], pa.string()),
            pa.array(field["name"], pa.string()),
            _ids(field["user_id"]),
            _ids(field["anonymous_id"]),
            group,
            _ids(field["previous_id"]),
            skew_corrected_timestamps(received, original, sent).view(TIMESTAMP),
            original.view(TIMESTAMP),
            sent.view(TIMESTAMP),
            received.view(TIMESTAMP),
            _objects(field["properties"]).view(pa.string()),
            _objects(field["traits"]).view(pa.string()),
            splice_ip(_texts(self.contexts), pa.array(self.prefixes, pa.binary())).view(
                pa.string()
            ),
            integrations.view(pa.string()),
            nulls,
            nulls,
            nulls,
            nulls,
        ]
        self._clear()
        return pa.RecordBatch.from_arrays(arrays, schema=WAL_SCHEMA)


_FIELDS = (
    "type", "message_id", "event", "name", "user_id", "anonymous_id", "group_id", "previous_id",
    "timestamp", "original_timestamp", "sent_at", "properties", "traits", "integrations",
)  # fmt: skip
# Positions in msgspec.structs.astuple(FastEvent).
_AT = {field.name: index for index, field in enumerate(msgspec.structs.fields(FastEvent))}


def _ids(values: Sequence[str | None]) -> pa.Array:
    """An id column: an empty id is no id."""
    array = pa.array(values, pa.string())
    return pc.if_else(pc.equal(array, ""), _NULL_STRING, array)


def _epoch_us(values: Sequence[datetime | None]) -> pa.Array:
    """Datetimes as epoch microseconds (UTC; naive ones taken as UTC), within years 1 to
    9999 like :func:`to_epoch_us`."""
    micros = pa.array(values, TIMESTAMP).view(pa.int64())
    return pc.max_element_wise(
        pc.min_element_wise(micros, MAX_US, skip_nulls=False), MIN_US, skip_nulls=False
    )


def _objects(values: Sequence[msgspec.Raw]) -> pa.Array:
    """An object field of events already judged valid: its bytes, null for absent/null."""
    array = _texts(values)
    return pc.if_else(pc.equal(array, b"null"), _NULL_TEXT, array)


def _texts(values: Sequence[bytes | msgspec.Raw]) -> pa.Array:
    """Raw JSON texts as one binary array, null where empty (absent): one copy, in C, of
    all the bytes at once, rather than a bytes object and a conversion per value."""
    data = b"".join(values)
    if len(data) > _MAX_BINARY:
        raise ValueError(f"{len(data)} bytes of JSON text in one run: too many for one array")
    lengths = np.fromiter(map(len, values), np.int32, len(values))
    offsets = np.zeros(len(values) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    valid = np.packbits(lengths != 0, bitorder="little")
    buffers = [pa.py_buffer(valid), pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.binary(), len(values), buffers)


_MAX_BINARY = (1 << 31) - 1  # a binary array's offsets are int32


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
