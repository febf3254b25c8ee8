"""Valid events into WAL rows (enrichment): the stored context (its IP anonymised, the
batch's context merged in, its groupId the event's account), skew-corrected timestamps and
a derived messageId when none was sent; refused events into failed rows, with any address
in them anonymised.

:func:`process_events` is the reference path for a whole request: each event checked
(:mod:`cxloop.ingest.validate`), then enriched or recorded as failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from cxloop.access import anonymize_ip
from cxloop.ingest.parse import (
    UNDECODABLE,
    Limits,
    ParsedRequest,
    decode_members,
    keep_numbers_decoder,
    plain_member,
)
from cxloop.ingest.timestamps import skew_corrected_timestamp, to_epoch_us
from cxloop.ingest.validate import (
    NUL_PROBLEM,
    TOO_DEEP,
    CheckedEvent,
    InvalidEvent,
    Rejection,
    checked_event,
    object_bytes,
)
from cxloop.ingest.wire import ContextPeek
from cxloop.wal import EventRow

__all__ = [
    "ProcessedEvents",
    "anonymise_ip_member",
    "context_bytes",
    "may_hold_ip",
    "process_events",
    "request_contexts",
    "splice_ip",
]

_peek_decoder = msgspec.json.Decoder(ContextPeek)
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class ProcessedEvents:
    """One request's rows (valid and failed, in order) and the verdict its ack reports."""

    rows: list[EventRow] = field(default_factory=list)
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def process_events(
    request: ParsedRequest,
    *,
    project_id: str,
    received_at_us: int,
    client_ip: str | None,
    limits: Limits,
    on_rejected: Callable[[str], None] | None = None,
) -> ProcessedEvents:
    """Validate and enrich every event of an authenticated request into WAL rows."""
    out = ProcessedEvents()
    batch_sent_us = to_epoch_us(request.batch_sent_at) if request.batch_sent_at else None
    request_ip = anonymize_ip(client_ip) if client_ip else None
    route_type, max_event_bytes = request.route_type, limits.max_event_bytes
    for index, raw in enumerate(request.events):
        try:
            try:
                checked = checked_event(raw, route_type, max_event_bytes)
                row = _event_row(
                    raw, checked, request, project_id, received_at_us, batch_sent_us, request_ip
                )
            except RecursionError as exc:
                raise InvalidEvent("too_deep", TOO_DEEP) from exc
        except InvalidEvent as invalid:
            message_id = invalid.message_id or _derived_message_id(project_id, raw)
            out.rows.append(
                _failed_row(project_id, message_id, received_at_us, invalid, raw, request_ip)
            )
            out.rejected.append(
                Rejection(
                    index=index,
                    messageId=message_id,
                    reason=invalid.reason,
                    detail=invalid.detail,
                )
            )
            if on_rejected is not None:
                on_rejected(invalid.reason)
            continue
        out.rows.append(row)
        out.accepted += 1
    return out


def _event_row(
    raw: msgspec.Raw,
    checked: CheckedEvent,
    request: ParsedRequest,
    project_id: str,
    received_at_us: int,
    batch_sent_us: int | None,
    request_ip: str | None,
) -> EventRow:
    """A checked event enriched into its WAL row (an invalid context still refuses it)."""
    (event, event_type, message_id, user_id, anonymous_id, group_id, previous_id,
     properties, traits, integrations, extra) = checked  # fmt: skip
    context, context_group = context_bytes(
        event.context, request.batch_context, request_ip, message_id, event_type
    )
    if context_group is not None and "\0" in context_group:
        raise InvalidEvent(
            "invalid_character",
            f"context.groupId {NUL_PROBLEM}",
            message_id=message_id,
            event_type=event_type,
        )
    if event_type != "group" and context_group is not None:
        group_id = context_group
    if integrations is None and request.batch_integrations:
        integrations = _encoder.encode(request.batch_integrations)

    client_ts = event.timestamp or event.original_timestamp
    original_us = to_epoch_us(client_ts) if client_ts is not None else None
    sent_at_us = to_epoch_us(event.sent_at) if event.sent_at is not None else batch_sent_us
    timestamp_us = skew_corrected_timestamp(received_at_us, original_us, sent_at_us)

    if message_id is None:
        message_id = _derived_message_id(project_id, raw)
    return EventRow(
        project_id,
        message_id,
        event_type,
        event.event,
        event.name,
        user_id,
        anonymous_id,
        group_id,
        previous_id,
        timestamp_us,
        original_us,
        sent_at_us,
        received_at_us,
        properties,
        traits,
        context,
        integrations,
        extra,
        None,
        None,
        None,
    )


def context_bytes(
    raw: msgspec.Raw,
    batch_context: dict[str, Any] | None,
    request_ip: str | None,
    message_id: str | None,
    event_type: str | None,
) -> tuple[bytes | None, str | None]:
    """The stored context (IP anonymised, batch context merged) and its groupId, if any.

    The common case never builds a dict: the two keys ingest acts on are peeked at, and the
    customer's bytes are stored as they are, with the request's anonymised IP spliced in.
    """
    data = object_bytes(raw, "context", message_id, event_type)
    # Members are rewritten as raw JSON: a number no decoder reads is stored as it was sent.
    if batch_context:
        context = {**batch_context, **(decode_members(data) if data else {})}
        _anonymise_context_ip(context, request_ip)
        return _encoder.encode(context), _group_text(plain_member(context.get("groupId")))
    if data is None:
        return (_ip_only_context(request_ip) if request_ip else None), None
    try:
        peek = _peek_decoder.decode(data)
        ip, group = peek.ip, peek.groupId
    except msgspec.ValidationError:  # an integer of thousands of digits under ip or groupId
        members = decode_members(data)
        ip, group = plain_member(members.get("ip")), plain_member(members.get("groupId"))
    if ip is not None:
        context = decode_members(data)
        _anonymise_context_ip(context, request_ip)
        return _encoder.encode(context), _group_text(group)
    if request_ip:
        rest = data[1:].lstrip()
        ip_json = _ip_json(request_ip)
        data = b'{"ip":' + ip_json + (b"}" if rest[:1] == b"}" else b"," + rest)
    return data, _group_text(group)


def request_contexts(
    raws: Sequence[msgspec.Raw], batch_context: dict[str, Any] | None, request_ip: str | None
) -> tuple[list[bytes | msgspec.Raw], list[str | None], bytes | None]:
    """The contexts of a request's events, as :func:`context_bytes` stores them (empty for
    none), and their groupIds, in the columnar path's terms: ``(contexts, groups, prefix)``.

    When ``prefix`` is not None every context is an object without an ``ip`` and is stored
    with the request's address spliced in first (:func:`splice_ip` does it for a whole run);
    each context was read with one C call per event. Otherwise the contexts are final: some
    event needed :func:`context_bytes` (a batch context, an own ip, a null or absent context,
    a groupId no decoder reads)."""
    if not batch_context:
        try:
            peeks = list(map(_peek_decoder.decode, raws))  # fails on absent or null
        except (msgspec.ValidationError, msgspec.DecodeError):
            peeks = None
        if peeks is not None and list(map(_peek_ip, peeks)).count(None) == len(peeks):
            prefix = (b'{"ip":' + _ip_json(request_ip)) if request_ip else None
            return list(raws), list(map(_group_text, map(_peek_group, peeks))), prefix
    stored: list[bytes | msgspec.Raw] = []
    groups: list[str | None] = []
    for raw in raws:
        context, group = context_bytes(raw, batch_context, request_ip, None, None)
        stored.append(context or b"")
        groups.append(group)
    return stored, groups, None


def splice_ip(contexts: pa.Array, prefixes: pa.Array) -> pa.Array:
    """``contexts`` (binary) with ``prefix`` + the object's members where a prefix is given:
    ``{"a":1}`` → ``{"ip":"…","a":1}``, ``{ }`` → ``{"ip":"…"}``, like :func:`context_bytes`."""
    rest = pc.binary_slice(contexts, 1, _MAX_CONTEXT)
    separator: pa.Array | bytes = b","
    if pc.any(pc.is_in(pc.binary_slice(contexts, 1, 2), value_set=_AFTER_BRACE)).as_py():
        # Whitespace after "{", or an empty object: trimmed as bytes.lstrip() would.
        rest = pc.ascii_ltrim(rest.view(pa.string()), characters=" \t\n\r").view(pa.binary())
        separator = pc.if_else(pc.starts_with(rest, b"}"), b"", b",")
    spliced = pc.binary_join_element_wise(prefixes, separator, rest, b"")
    return pc.coalesce(spliced, contexts)


# JSON text allows only these between "{" and a key or "}".
_AFTER_BRACE = pa.array([b" ", b"\t", b"\n", b"\r", b"}"], pa.binary())
_MAX_CONTEXT = (1 << 31) - 1  # past the end of any binary value
_peek_ip = attrgetter("ip")
_peek_group = attrgetter("groupId")


def _anonymise_context_ip(context: dict[str, Any], request_ip: str | None) -> None:
    ip = plain_member(context.get("ip"))
    anonymised = anonymize_ip(ip) if isinstance(ip, str) else None
    if anonymised is not None:
        context["ip"] = anonymised
    elif ip is not None:
        del context["ip"]  # not an address we can anonymise: not stored at all
    elif request_ip:
        context["ip"] = request_ip


def anonymise_ip_member(context: dict[str, Any]) -> None:
    """``context["ip"]`` anonymised in place, or removed when it is not an address (a member
    kept raw is decoded first: a number no decoder reads is not one)."""
    ip = plain_member(context["ip"])
    anonymised = anonymize_ip(ip) if isinstance(ip, str) else None
    if anonymised is None:
        del context["ip"]  # not an address we can anonymise: not stored at all
    else:
        context["ip"] = anonymised


def _group_text(value: object) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


@lru_cache(maxsize=1024)
def _ip_json(ip: str) -> bytes:
    return _encoder.encode(ip)


def _ip_only_context(ip: str) -> bytes:
    return b'{"ip":' + _ip_json(ip) + b"}"


def _derived_message_id(project_id: str, raw: msgspec.Raw) -> str:
    """No messageId sent: derive one from the bytes so an identical replay still dedupes."""
    digest = hashlib.blake2b(bytes(raw), digest_size=16, person=b"cxloop-msgid")
    digest.update(project_id.encode())
    return "cxd-" + digest.hexdigest()


def _failed_row(
    project_id: str,
    message_id: str,
    received_at_us: int,
    invalid: InvalidEvent,
    raw: msgspec.Raw,
    request_ip: str | None,
) -> EventRow:
    return EventRow(
        project_id,
        message_id,
        invalid.event_type,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        received_at_us,
        None,
        None,
        None,
        None,
        None,
        invalid.reason,
        invalid.detail,
        _scrubbed_raw(raw),
    )


def may_hold_ip(data: bytes) -> bool:
    """Whether an ``ip`` key may be anywhere in the JSON text, in any spelling (escaped
    letters included): a key repeated in one object is seen by a decoder only once."""
    return b'"ip"' in data or b"\\u0069" in data or b"\\u0070" in data


def _scrubbed_raw(raw: msgspec.Raw) -> str:
    """The raw event as text, with any context.ip anonymised like a valid event's.

    Re-encoded whenever an ``ip`` key may be present: that also drops the earlier copies of
    a repeated key, which could otherwise carry an address past the decoder."""
    data = bytes(raw)
    if not may_hold_ip(data):
        return data.decode(errors="replace")
    try:
        value = keep_numbers_decoder.decode(data)
    except UNDECODABLE:
        # No decoder reads it, so no address can be found in it: only its size is kept.
        return f"(not stored: {len(data)} bytes no decoder could read; it may hold an address)"
    context = value.get("context") if isinstance(value, dict) else None
    if isinstance(context, dict) and "ip" in context:
        anonymise_ip_member(context)
    return _encoder.encode(value).decode()
