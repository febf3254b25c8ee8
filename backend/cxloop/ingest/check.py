"""The verdict on a request's events before the ack, without building any event rows.

Ingest answers with ``{accepted, rejected}``, so every event is judged before the ack; but
the ack needs only the verdict, not enriched rows. Those are built after the ack by
:mod:`cxloop.ingest.expand`, from the request as logged, by the same reference code.

The fast path decodes the whole body with one msgspec call into Structs whose object fields
are skipped in C; an event that passes the few checks of :func:`_surely_valid` is valid for
certain. Anything else (a body that decoder refuses, numeric ids, a survey response, an event
that looks invalid, an event that may be over the size limit) is judged by the reference path,
:func:`cxloop.ingest.enrich.process_events`. A property test holds both paths to the same
verdict on every input.

The same decode tells whether any ``context.ip`` was sent (msgspec finds the key, so an
escaped spelling cannot slip past; a byte search finds the copies of a repeated key that a
decoder does not show); such a body is rewritten with anonymised addresses before it is
judged and logged.

A body nested deeper than the decoder can follow has those events replaced by a marker the
reference path rejects as ``too_deep`` (:func:`cxloop.ingest.parse.defuse_body`), and that
is the body logged: the pipeline reaches the same verdict.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from cxloop.ingest.enrich import anonymise_ip_member, may_hold_ip, process_events
from cxloop.ingest.parse import (
    HEADROOM_FRAMES,
    IngestError,
    Limits,
    ParsedRequest,
    defuse_body,
    keep_numbers_decoder,
    parse_batch,
    parse_single,
    require_utf8,
    with_headroom,
)
from cxloop.ingest.validate import EVENT_TYPES, SURVEY_EVENT, Rejection, holds_nul

__all__ = ["CheckedRequest", "anonymise_body", "check_request"]

_Id = str | int | float | None


class _AnyObject(msgspec.Struct, gc=False):
    """Any JSON object; its members are skipped without building Python objects."""


class _IpsSeen(threading.local):
    count = 0


_ips_seen = _IpsSeen()
_UNSET = msgspec.UNSET


class _Context(msgspec.Struct, gc=False):
    ip: Any = msgspec.UNSET

    def __post_init__(self) -> None:
        # Counted as each context is decoded: a repeated "context" (or "batch") key shows
        # the decoder only its last copy, but every copy reaches the log.
        if self.ip is not _UNSET:
            _ips_seen.count += 1


class _Event(msgspec.Struct, rename="camel", gc=False):
    type: str | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    channel: str | None = None
    message_id: _Id = None
    user_id: _Id = None
    anonymous_id: _Id = None
    group_id: _Id = None
    previous_id: _Id = None
    properties: _AnyObject | None = None
    traits: _AnyObject | None = None
    integrations: _AnyObject | None = None
    context: _Context | None = None
    timestamp: datetime | None = None
    original_timestamp: datetime | None = None
    sent_at: datetime | None = None
    write_key: str | None = None


class _Batch(msgspec.Struct, rename="camel"):
    batch: list[_Event]
    context: _Context | None = None
    integrations: _AnyObject | None = None
    sent_at: datetime | None = None
    write_key: str | None = None


_batch_decoder = msgspec.json.Decoder(_Batch)
_event_decoder = msgspec.json.Decoder(_Event)
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class CheckedRequest:
    """A decoded request: its credential, size, and what judging it still needs."""

    body: bytes
    route_type: str | None  # None for /v1/batch
    write_key: str | None
    events: int
    has_ip: bool  # some context.ip was sent: anonymise_body() before logging
    # Set when the reference path must judge the events (after auth: it needs the project).
    reference: ParsedRequest | None = None

    def verdict(self, project_id: str, limits: Limits) -> tuple[int, list[Rejection]]:
        """(accepted, rejected) exactly as :func:`process_events` would count them."""
        if self.reference is None:
            return self.events, []
        processed = process_events(
            self.reference,
            project_id=project_id,
            received_at_us=0,
            client_ip=None,
            limits=limits,
        )
        return processed.accepted, processed.rejected


# A body with at most this many '{' and '[' nests at most that deep, so no decoder meets the
# recursion limit on it at any stack that can still decode MAX_SAFE_DEPTH levels (always
# accepted, parse.MAX_SAFE_DEPTH): judging it HEADROOM_FRAMES deeper cannot change its
# verdict, and those frames cost a small event more than its decode. Counted only in small
# bodies (single events), where the count costs far less than the frames.
_SHALLOW_OPENERS = 64
_SHALLOW_SCAN_BYTES = 8 * 1024


def check_request(body: bytes, route_type: str | None, limits: Limits) -> CheckedRequest:
    """Decode a (decompressed) body; raises :class:`IngestError` for a request refused whole."""
    if len(body) <= _SHALLOW_SCAN_BYTES and body.count(b"{") + body.count(b"[") <= _SHALLOW_OPENERS:
        try:
            return _check(body, route_type, limits)
        except RecursionError:  # pragma: no cover - a stack within ~80 frames of the limit
            pass  # judged as any other body is, below
    try:
        return with_headroom(HEADROOM_FRAMES, _check, body, route_type, limits)
    except RecursionError:
        # Nested deeper than the decoders follow: those events become too_deep markers.
        body = defuse_body(body, route_type)
    try:
        if route_type is None:
            parse_batch(body, limits)  # refuses a batch context or integrations too deep
        return with_headroom(HEADROOM_FRAMES, _check, body, route_type, limits)
    except RecursionError as exc:  # pragma: no cover - defuse_body() leaves no such event
        raise IngestError(400, "too_deep", "the body nests too deeply: flatten it") from exc


def _check(body: bytes, route_type: str | None, limits: Limits) -> CheckedRequest:
    if route_type is None:
        return _check_batch(body, limits)
    return _check_single(body, route_type, limits)


def _check_batch(body: bytes, limits: Limits) -> CheckedRequest:
    require_utf8(body)
    _ips_seen.count = 0
    try:
        envelope = _batch_decoder.decode(body)
    except msgspec.DecodeError:  # ValidationError included
        # parse_batch refuses what is wrong with the envelope itself, with the right message.
        parsed = parse_batch(body, limits)
        return CheckedRequest(
            body, None, parsed.write_key, len(parsed.events), may_hold_ip(body), parsed
        )
    events = envelope.batch
    # U+0000 in an id or name rejects the event: only the reference path looks for it.
    surely = not holds_nul(body) and all([_surely_valid(event, event.type) for event in events])
    reference: ParsedRequest | None = None
    if len(events) > limits.max_batch_events or len(body) > limits.max_event_bytes or not surely:
        parsed = parse_batch(body, limits)  # raises batch_too_large
        if not surely or any(len(raw) > limits.max_event_bytes for raw in parsed.events):
            reference = parsed
    has_ip = _ips_seen.count > 0
    return CheckedRequest(body, None, envelope.write_key, len(events), has_ip, reference)


def _check_single(body: bytes, route_type: str, limits: Limits) -> CheckedRequest:
    _ips_seen.count = 0
    try:
        event = _event_decoder.decode(body) if len(body) <= limits.max_event_bytes else None
    except msgspec.DecodeError:  # ValidationError included
        event = None
    if event is not None and not holds_nul(body) and _surely_valid(event, route_type):
        require_utf8(body)
        return CheckedRequest(body, route_type, event.write_key, 1, _ips_seen.count > 0)
    reference = parse_single(body, route_type, limits)  # raises what is refused whole
    return CheckedRequest(body, route_type, reference.write_key, 1, may_hold_ip(body), reference)


def _surely_valid(event: _Event, event_type: str | None) -> bool:
    """True only when the reference path would accept the event as it stands."""
    if event_type not in EVENT_TYPES:
        return False
    user_id, anonymous_id = event.user_id, event.anonymous_id
    if not ((type(user_id) is str and user_id) or (type(anonymous_id) is str and anonymous_id)):
        return False
    if event_type == "track":
        return bool(event.event) and event.event != SURVEY_EVENT
    if event_type == "group":
        return type(event.group_id) is str and bool(event.group_id)
    if event_type == "alias":
        return type(event.previous_id) is str and bool(event.previous_id)
    return True


_members_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])


def _anonymised_member(member: msgspec.Raw) -> msgspec.Raw | dict[str, msgspec.Raw]:
    """An object whose ``context.ip`` is anonymised (removed when it is not an address);
    its other members, and anything that is not an object, stay the JSON sent."""
    try:
        members = _members_decoder.decode(member)
    except msgspec.ValidationError:  # not an object
        return member
    # Returned re-encoded even when unchanged: of a repeated key, only its last copy is kept.
    try:
        context = _members_decoder.decode(members["context"])
    except (msgspec.ValidationError, KeyError):  # no context object
        return members
    if "ip" not in context:
        return members
    anonymise_ip_member(context)  # an integer too long to decode is not an address
    members["context"] = msgspec.Raw(_encoder.encode(context))
    return members


def _anonymised_value(checked: CheckedRequest) -> Any:
    """The body decoded whole, every ``context.ip`` anonymised; of a repeated key only its
    last copy is kept, as every decoder reads it. Raises ValidationError for an integer too
    long to decode."""
    value = keep_numbers_decoder.decode(checked.body)  # 1e400 re-encodes as sent
    contexts = [value.get("context")] if isinstance(value, dict) else []
    batch = value.get("batch") if checked.route_type is None and contexts else None
    if isinstance(batch, list):
        contexts += [event.get("context") for event in batch if isinstance(event, dict)]
    for context in contexts:
        if isinstance(context, dict) and "ip" in context:
            anonymise_ip_member(context)
    return value


def anonymise_body(checked: CheckedRequest, limits: Limits) -> CheckedRequest:
    """The request re-checked after every ``context.ip`` (per event and batch-wide) has been
    anonymised, or removed when it is not an address. Every other member is kept as sent
    (numbers beyond a double included); of a repeated key, only the last copy is kept, as
    every decoder reads it."""
    try:
        value: Any = _anonymised_value(checked)
    except msgspec.ValidationError:  # an integer too long to decode: rewritten member-wise
        body = msgspec.Raw(checked.body)
        value = _anonymised_member(body)
        if checked.route_type is None:
            envelope = value if isinstance(value, dict) else dict(_members_decoder.decode(body))
            batch = envelope.get("batch")
            if batch is not None:
                events = _raw_list_decoder.decode(batch)
                envelope["batch"] = [_anonymised_member(event) for event in events]
            value = envelope
    rechecked = check_request(_encoder.encode(value), checked.route_type, limits)
    rechecked.has_ip = False
    return rechecked
