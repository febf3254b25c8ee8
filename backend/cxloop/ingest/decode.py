"""Turn a request body into WAL rows: decode, validate each event, enrich.

This is the ingest hot path. Every event ends up either as a valid row or as a failed row
with a typed reason; nothing is dropped. Events are validated one by one so that one bad
event never costs the other 2,499 in its batch.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec

from cxloop.ingest.privacy import anonymize_ip
from cxloop.ingest.timestamps import skew_corrected_timestamp, to_epoch_us
from cxloop.ingest.wire import (
    KNOWN_EVENT_FIELDS,
    BatchEnvelope,
    ContextPeek,
    FastEvent,
    SingleEnvelope,
    WireEvent,
)

__all__ = [
    "EVENT_TYPES",
    "SURVEY_EVENT",
    "IngestError",
    "Limits",
    "ParsedRequest",
    "Rejection",
    "context_bytes",
    "parse_batch",
    "parse_single",
    "process_events",
    "require_utf8",
    "survey_response_problem",
]

EVENT_TYPES = frozenset({"track", "identify", "group", "page", "screen", "alias"})
SURVEY_EVENT = "Survey Responded"
SURVEY_SCORE_RANGES: dict[str, tuple[float, float]] = {
    "nps": (0, 10),
    "csat": (1, 5),
    "ces": (1, 7),
    "thumbs": (0, 1),
    "emoji": (1, 5),
}
MAX_COMMENT_CHARS = 10_000

Row = tuple[Any, ...]


class IngestError(Exception):
    """A whole request is refused: HTTP ``status`` with ``{code, message}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_bytes: int = 32 * 1024
    max_batch_events: int = 2500


class Rejection(msgspec.Struct):
    index: int
    messageId: str
    reason: str
    detail: str


@dataclass(slots=True)
class ParsedRequest:
    """A decoded request whose events still wait for the project id (known after auth)."""

    write_key: str | None
    events: list[msgspec.Raw]
    batch_context: dict[str, Any] | None = None
    batch_integrations: dict[str, Any] | None = None
    batch_sent_at: datetime | None = None
    route_type: str | None = None


@dataclass(slots=True)
class ProcessedEvents:
    rows: list[Row] = field(default_factory=list)
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)


_batch_decoder = msgspec.json.Decoder(BatchEnvelope)
_single_decoder = msgspec.json.Decoder(SingleEnvelope)
_event_decoder = msgspec.json.Decoder(WireEvent)
_fast_decoder = msgspec.json.Decoder(FastEvent)
_peek_decoder = msgspec.json.Decoder(ContextPeek)
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def require_utf8(body: bytes) -> None:
    """JSON is UTF-8; checked once per body because raw fields are stored without decoding."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            400, "invalid_json", f"the body is not valid UTF-8 (JSON must be): {exc}"
        ) from exc


def parse_batch(body: bytes, limits: Limits) -> ParsedRequest:
    require_utf8(body)
    try:
        envelope = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise IngestError(
            400,
            "invalid_batch",
            f"the body must be a JSON object with a 'batch' array of events: {exc}",
        ) from exc
    except msgspec.DecodeError as exc:
        raise IngestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc
    if len(envelope.batch) > limits.max_batch_events:
        raise IngestError(
            413,
            "batch_too_large",
            f"{len(envelope.batch)} events in one batch; the limit is "
            f"{limits.max_batch_events}: split it into smaller batches",
        )
    return ParsedRequest(
        write_key=envelope.write_key,
        events=envelope.batch,
        batch_context=envelope.context,
        batch_integrations=envelope.integrations,
        batch_sent_at=envelope.sent_at,
    )


def parse_single(body: bytes, route_type: str, limits: Limits) -> ParsedRequest:
    if len(body) > limits.max_event_bytes:
        raise IngestError(
            413,
            "event_too_large",
            f"the event is {len(body)} bytes; the limit is {limits.max_event_bytes} bytes",
        )
    require_utf8(body)
    try:
        envelope = _single_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise IngestError(400, "invalid_event", f"the body must be a JSON object: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise IngestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc
    write_key = envelope.write_key if isinstance(envelope.write_key, str) else None
    return ParsedRequest(write_key=write_key, events=[msgspec.Raw(body)], route_type=route_type)


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
    for index, raw in enumerate(request.events):
        try:
            row = _event_row(
                raw,
                request,
                project_id=project_id,
                received_at_us=received_at_us,
                batch_sent_us=batch_sent_us,
                request_ip=request_ip,
                limits=limits,
            )
        except _Invalid as invalid:
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


class _Invalid(Exception):
    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        message_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.message_id = message_id
        self.event_type = event_type


def _event_row(
    raw: msgspec.Raw,
    request: ParsedRequest,
    *,
    project_id: str,
    received_at_us: int,
    batch_sent_us: int | None,
    request_ip: str | None,
    limits: Limits,
) -> Row:
    if len(raw) > limits.max_event_bytes:
        raise _Invalid(
            "event_too_large",
            f"the event is {len(raw)} bytes; the limit is {limits.max_event_bytes} bytes",
        )
    extra: bytes | None = None
    event: FastEvent | WireEvent
    try:
        event = _fast_decoder.decode(raw)
        # Strings straight from the decoder; an empty id means absent.
        message_id = event.message_id or None
        user_id = event.user_id or None
        anonymous_id = event.anonymous_id or None
        group_id = event.group_id or None
        previous_id = event.previous_id or None
    except msgspec.ValidationError:
        try:
            event = _event_decoder.decode(raw)
        except msgspec.ValidationError as exc:
            event, extra = _decode_with_unknown_fields(raw, exc)
        message_id = _identifier(event.message_id)
        user_id = _identifier(event.user_id)
        anonymous_id = _identifier(event.anonymous_id)
        group_id = _identifier(event.group_id)
        previous_id = _identifier(event.previous_id)

    event_type = request.route_type or event.type
    if event_type not in EVENT_TYPES:
        raise _Invalid(
            "invalid_type",
            f"type must be one of {', '.join(sorted(EVENT_TYPES))}; got {event.type!r}",
            message_id=message_id,
        )
    if user_id is None and anonymous_id is None:
        raise _Invalid(
            "missing_identity",
            "every event needs a userId or an anonymousId",
            message_id=message_id,
            event_type=event_type,
        )
    if event_type == "track" and not event.event:
        raise _Invalid(
            "missing_event",
            "a track call needs a non-empty 'event' name",
            message_id=message_id,
            event_type=event_type,
        )
    if event_type == "group" and group_id is None:
        raise _Invalid(
            "missing_group_id",
            "a group call needs a 'groupId' (the customer account)",
            message_id=message_id,
            event_type=event_type,
        )
    if event_type == "alias" and previous_id is None:
        raise _Invalid(
            "missing_previous_id",
            "an alias call needs a 'previousId'",
            message_id=message_id,
            event_type=event_type,
        )
    properties = _object_bytes(event.properties, "properties", message_id, event_type)
    traits = _object_bytes(event.traits, "traits", message_id, event_type)
    integrations = _object_bytes(event.integrations, "integrations", message_id, event_type)
    if event_type == "track" and event.event == SURVEY_EVENT:
        problem = survey_response_problem(properties)
        if problem is not None:
            raise _Invalid(
                "invalid_survey_response", problem, message_id=message_id, event_type=event_type
            )

    context, context_group = context_bytes(
        event.context, request.batch_context, request_ip, message_id, event_type
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
    return (
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


def _decode_with_unknown_fields(
    raw: msgspec.Raw, error: msgspec.ValidationError
) -> tuple[WireEvent, bytes | None]:
    """Slow path: split known from unknown top-level fields, keep the unknown ones."""
    try:
        value = _any_decoder.decode(raw)
    except msgspec.DecodeError as exc:  # pragma: no cover - the envelope already parsed it
        raise _Invalid("invalid_json", str(exc)) from exc
    if not isinstance(value, dict):
        raise _Invalid("not_an_object", "each event must be a JSON object")
    known = {k: v for k, v in value.items() if k in KNOWN_EVENT_FIELDS}
    unknown = {k: v for k, v in value.items() if k not in KNOWN_EVENT_FIELDS}
    raw_id = known.get("messageId")
    message_id = _identifier(raw_id) if _is_identifier(raw_id) else None
    if not unknown:
        raise _typed_invalid(error, message_id, known.get("type"))
    as_raw = {
        k: msgspec.Raw(_encoder.encode(v)) if k in _RAW_FIELDS else v for k, v in known.items()
    }
    try:
        event = msgspec.convert(as_raw, WireEvent, strict=False)
    except msgspec.ValidationError as exc:
        raise _typed_invalid(exc, message_id, known.get("type")) from exc
    return event, _encoder.encode(unknown)


_RAW_FIELDS = frozenset({"properties", "traits", "integrations", "context"})
_TIMESTAMP_PATHS = ("$.timestamp", "$.originalTimestamp", "$.sentAt")


def _typed_invalid(error: msgspec.ValidationError, message_id: str | None, kind: Any) -> _Invalid:
    text = str(error)
    reason = "invalid_timestamp" if any(p in text for p in _TIMESTAMP_PATHS) else "invalid_field"
    return _Invalid(
        reason, text, message_id=message_id, event_type=kind if isinstance(kind, str) else None
    )


def _is_identifier(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _identifier(value: object) -> str | None:
    """Segment ids may arrive as numbers; an empty string means absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, str | int):
        text = str(value)
    else:
        return None
    return text or None


def _object_bytes(
    raw: msgspec.Raw, name: str, message_id: str | None, event_type: str | None
) -> bytes | None:
    """A JSON object field as the bytes the customer sent (None when absent or null)."""
    if not raw:
        return None
    data = bytes(raw)
    if data[:1] == b"{":
        return data
    if data == b"null":
        return None
    raise _Invalid(
        "invalid_field",
        f"'{name}' must be a JSON object",
        message_id=message_id,
        event_type=event_type,
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
    data = _object_bytes(raw, "context", message_id, event_type)
    if batch_context:
        context = {**batch_context, **(_any_decoder.decode(data) if data else {})}
        _anonymise_context_ip(context, request_ip)
        return _encoder.encode(context), _group_text(context.get("groupId"))
    if data is None:
        return (_ip_only_context(request_ip) if request_ip else None), None
    peek = _peek_decoder.decode(data)
    if peek.ip is not None:
        context = _any_decoder.decode(data)
        _anonymise_context_ip(context, request_ip)
        return _encoder.encode(context), _group_text(peek.groupId)
    if request_ip:
        rest = data[1:].lstrip()
        ip = _ip_json(request_ip)
        data = b'{"ip":' + ip + (b"}" if rest[:1] == b"}" else b"," + rest)
    return data, _group_text(peek.groupId)


def _anonymise_context_ip(context: dict[str, Any], request_ip: str | None) -> None:
    ip = context.get("ip")
    anonymised = anonymize_ip(ip) if isinstance(ip, str) else None
    if anonymised is not None:
        context["ip"] = anonymised
    elif ip is not None:
        del context["ip"]  # not an address we can anonymise: not stored at all
    elif request_ip:
        context["ip"] = request_ip


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


def survey_response_problem(properties: bytes | str | None) -> str | None:
    """Why a ``Survey Responded`` event cannot be used, or None when it is fine."""
    if properties is None:
        return "a Survey Responded event needs properties survey_id, response_id, kind, score"
    try:
        props = _any_decoder.decode(properties)
    except msgspec.DecodeError:
        return "properties are not valid JSON"
    if not isinstance(props, dict):
        return "properties must be a JSON object"
    for key in ("survey_id", "response_id"):
        value = props.get(key)
        if not isinstance(value, str) or not value:
            return f"properties.{key} must be a non-empty string"
    kind = props.get("kind")
    if kind not in SURVEY_SCORE_RANGES:
        return f"properties.kind must be one of {', '.join(SURVEY_SCORE_RANGES)}; got {kind!r}"
    score = props.get("score")
    low, high = SURVEY_SCORE_RANGES[kind]
    if (
        not isinstance(score, int | float)
        or isinstance(score, bool)
        or not math.isfinite(score)
        or not low <= score <= high
    ):
        return f"properties.score must be a number from {low:g} to {high:g} for kind {kind!r}"
    comment = props.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS):
        return f"properties.comment must be text of at most {MAX_COMMENT_CHARS} characters"
    partial = props.get("partial")
    if partial is not None and not isinstance(partial, bool):
        return "properties.partial must be true or false"
    return None


def _derived_message_id(project_id: str, raw: msgspec.Raw) -> str:
    """No messageId sent: derive one from the bytes so an identical replay still dedupes."""
    digest = hashlib.blake2b(bytes(raw), digest_size=16, person=b"cxloop-msgid")
    digest.update(project_id.encode())
    return "cxd-" + digest.hexdigest()


def _failed_row(
    project_id: str,
    message_id: str,
    received_at_us: int,
    invalid: _Invalid,
    raw: msgspec.Raw,
    request_ip: str | None,
) -> Row:
    return (
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


def _scrubbed_raw(raw: msgspec.Raw) -> str:
    """The raw event as text, with any context.ip anonymised like a valid event's."""
    data = bytes(raw)
    if b'"ip"' not in data:
        return data.decode(errors="replace")
    try:
        value = _any_decoder.decode(data)
    except msgspec.DecodeError:
        return data.decode(errors="replace")
    context = value.get("context") if isinstance(value, dict) else None
    if isinstance(context, dict) and "ip" in context:
        ip = context["ip"]
        anonymised = anonymize_ip(ip) if isinstance(ip, str) else None
        if anonymised is None:
            del context["ip"]
        else:
            context["ip"] = anonymised
        return _encoder.encode(value).decode()
    return data.decode(errors="replace")
