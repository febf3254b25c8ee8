"""Turn a request body into WAL rows: decode, validate each event, enrich.

This is the ingest hot path. Every event ends up either as a valid row or as a failed row
with a typed reason; nothing is dropped. Events are validated one by one so that one bad
event never costs the other 2,499 in its batch.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

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
from cxloop.wal import EventRow

__all__ = [
    "EVENT_TYPES",
    "SURVEY_EVENT",
    "IngestError",
    "Limits",
    "ParsedRequest",
    "Rejection",
    "anonymise_ip_member",
    "context_bytes",
    "defuse_body",
    "holds_nul",
    "keep_numbers_decoder",
    "parse_batch",
    "parse_single",
    "process_events",
    "require_utf8",
    "survey_response_problem",
    "with_headroom",
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
# Nesting every decoder follows on any stack we run on (an event object is level 1). Deeper
# events are refused as ``too_deep`` when the decoder cannot follow them (about 900 levels at
# Python's default recursion limit); proving the exact depth of every accepted body would cost
# the fast path more than its decode (see defuse_body).
MAX_SAFE_DEPTH = 500
# Fields whose text reaches PostgreSQL as a column (or an id): U+0000 is refused there.
_NUL_ESCAPE = b"\\u0000"
# The stand-in logged for an event no decoder can read (see defuse_body); never a real field.
MARKER_KEY = "$cxloop"

Row = EventRow
_T = TypeVar("_T")


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


def _keep_number(text: str) -> Any:
    """A JSON number beyond a double (``1e400``) is kept as the text sent, not made ``inf``."""
    value = float(text)
    return value if math.isfinite(value) else msgspec.Raw(text.encode())


# For members that are rewritten (context.ip) and stored: every number re-encodes as sent.
keep_numbers_decoder = msgspec.json.Decoder(float_hook=_keep_number)
# How many Python frames deeper than its caller the verdict before the ack decodes a body.
# A decoder's reach is the recursion limit less the frames above it, so a body judged readable
# this deep stays readable to every later decode of the ack (a few frames deeper at most):
# the verdict cannot depend on who called the check.
HEADROOM_FRAMES = 16


def with_headroom(frames: int, call: Callable[..., _T], *args: Any) -> _T:
    """``call(*args)`` run ``frames`` Python frames deeper than here (about 60 ns a frame)."""
    if frames > 0:
        return with_headroom(frames - 1, call, *args)
    return call(*args)


# What the decoders can raise on input a visitor controls: malformed or out-of-range values
# (DecodeError, ValidationError included) and nesting deeper than the stack (RecursionError).
UNDECODABLE = (msgspec.DecodeError, RecursionError)


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
    if _holds_marker(envelope.context) or _holds_marker(envelope.integrations):
        raise _too_deep_request()
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
            except RecursionError as exc:
                raise _Invalid("too_deep", _TOO_DEEP) from exc
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

    if holds_nul(_raw_bytes(raw)):
        _refuse_nul(
            {
                "messageId": message_id,
                "userId": user_id,
                "anonymousId": anonymous_id,
                "groupId": group_id,
                "previousId": previous_id,
                "type": None if request.route_type else event.type,  # the route's type wins
                "event": event.event,
                "name": event.name,
            },
            None if message_id is None or "\0" in message_id else message_id,
        )
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
            reason = (
                "invalid_character"
                if problem.startswith(_SURVEY_ID_NUL_PROBLEMS)
                else "invalid_survey_response"
            )
            raise _Invalid(reason, problem, message_id=message_id, event_type=event_type)

    context, context_group = context_bytes(
        event.context, request.batch_context, request_ip, message_id, event_type
    )
    if context_group is not None and "\0" in context_group:
        raise _Invalid(
            "invalid_character",
            f"context.groupId {_NUL_PROBLEM}",
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


def _decode_with_unknown_fields(
    raw: msgspec.Raw, error: msgspec.ValidationError
) -> tuple[WireEvent, bytes | None]:
    """Slow path: split known from unknown top-level fields, keep the unknown ones.

    Members stay raw JSON until needed, so unknown fields (and object fields) are kept as
    sent, numbers no decoder reads included."""
    try:
        members = _members_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _Invalid("not_an_object", "each event must be a JSON object") from exc
    except msgspec.DecodeError as exc:  # pragma: no cover - the envelope already parsed it
        raise _Invalid("invalid_json", str(exc)) from exc
    if _plain(members.get(MARKER_KEY)) == "too_deep":
        raise _Invalid("too_deep", _TOO_DEEP)
    known = {
        k: v if k in _RAW_FIELDS else _plain(v)
        for k, v in members.items()
        if k in KNOWN_EVENT_FIELDS
    }
    unknown = {k: v for k, v in members.items() if k not in KNOWN_EVENT_FIELDS}
    raw_id = known.get("messageId")
    message_id = _identifier(raw_id) if _is_identifier(raw_id) else None
    kind = known.get("type")
    for name, value in known.items():
        if value is _UNREADABLE:
            raise _Invalid(
                "number_out_of_range",
                f"{name} holds an integer too long to decode: {_NUMBER_HINT}",
                message_id=message_id,
                event_type=kind if isinstance(kind, str) else None,
            )
    if not unknown:
        raise _typed_invalid(error, message_id, kind)
    try:
        event = msgspec.convert(known, WireEvent, strict=False)
    except msgspec.ValidationError as exc:
        raise _typed_invalid(exc, message_id, kind) from exc
    return event, _encoder.encode(unknown)


_RAW_FIELDS = frozenset({"properties", "traits", "integrations", "context"})
_TIMESTAMP_PATHS = ("$.timestamp", "$.originalTimestamp", "$.sentAt")


def _typed_invalid(error: msgspec.ValidationError, message_id: str | None, kind: Any) -> _Invalid:
    text = str(error)
    if text.startswith(_OUT_OF_RANGE):
        reason, text = "number_out_of_range", f"{text}: {_NUMBER_HINT}"
    elif any(p in text for p in _TIMESTAMP_PATHS):
        reason = "invalid_timestamp"
    else:
        reason = "invalid_field"
    return _Invalid(
        reason, text, message_id=message_id, event_type=kind if isinstance(kind, str) else None
    )


def _is_identifier(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


_OUT_OF_RANGE = ("Number out of range", "Integer value out of range")
_NUMBER_HINT = "send ids and timestamps as text, and numbers within ±1.8e308"
_NUL_PROBLEM = "holds U+0000 or an unpaired surrogate"
_SURVEY_ID_NUL_PROBLEMS = tuple(
    f"properties.{key} {_NUL_PROBLEM}" for key in ("survey_id", "response_id")
)
_TOO_DEEP = (
    "the event nests objects/arrays deeper than can be decoded "
    f"(up to {MAX_SAFE_DEPTH} levels are always accepted): flatten it; it is not stored"
)


def holds_nul(data: bytes) -> bool:
    """U+0000 can only be sent escaped; the one-byte search first is ~20x cheaper."""
    return b"\\" in data and _NUL_ESCAPE in data


def _raw_bytes(raw: msgspec.Raw | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else bytes(raw)


def _refuse_nul(fields: dict[str, object], message_id: str | None) -> None:
    """Identifier and name fields become PostgreSQL text: U+0000 there refuses the event."""
    for name, value in fields.items():
        if isinstance(value, str) and "\0" in value:
            raise _Invalid(
                "invalid_character",
                f"{name} {_NUL_PROBLEM}: remove U+0000 and unpaired surrogates from it",
                message_id=message_id,
            )


def _too_deep_request() -> IngestError:
    return IngestError(
        400,
        "too_deep",
        "the batch-level context or integrations nest deeper than can be decoded "
        f"(up to {MAX_SAFE_DEPTH} levels are always accepted): flatten them",
    )


def _holds_marker(value: dict[str, Any] | None) -> bool:
    return bool(value) and f'"{MARKER_KEY}":'.encode() in _encoder.encode(value)


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
    # Members are rewritten as raw JSON: a number no decoder reads is stored as it was sent.
    if batch_context:
        context = {**batch_context, **(_members_decoder.decode(data) if data else {})}
        _anonymise_context_ip(context, request_ip)
        return _encoder.encode(context), _group_text(_plain(context.get("groupId")))
    if data is None:
        return (_ip_only_context(request_ip) if request_ip else None), None
    try:
        peek = _peek_decoder.decode(data)
        ip, group = peek.ip, peek.groupId
    except msgspec.ValidationError:  # an integer of thousands of digits under ip or groupId
        members = _members_decoder.decode(data)
        ip, group = _plain(members.get("ip")), _plain(members.get("groupId"))
    if ip is not None:
        context = _members_decoder.decode(data)
        _anonymise_context_ip(context, request_ip)
        return _encoder.encode(context), _group_text(group)
    if request_ip:
        rest = data[1:].lstrip()
        ip_json = _ip_json(request_ip)
        data = b'{"ip":' + ip_json + (b"}" if rest[:1] == b"}" else b"," + rest)
    return data, _group_text(group)


_members_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_UNREADABLE = object()


def _plain(value: object) -> object:
    """A member kept raw, decoded; ``_UNREADABLE`` for a number no decoder reads."""
    if not isinstance(value, msgspec.Raw):
        return value
    try:
        return _any_decoder.decode(value)
    except msgspec.ValidationError:
        return _UNREADABLE


def _anonymise_context_ip(context: dict[str, Any], request_ip: str | None) -> None:
    ip = _plain(context.get("ip"))
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
    ip = _plain(context["ip"])
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


def survey_response_problem(properties: bytes | str | None) -> str | None:
    """Why a ``Survey Responded`` event cannot be used, or None when it is fine.

    ``response_id`` may be left out (the projection then uses the event's messageId)."""
    if properties is None:
        return "a Survey Responded event needs properties survey_id, kind, score"
    try:
        props = keep_numbers_decoder.decode(properties)
    except msgspec.ValidationError as exc:
        return f"properties hold a number out of range ({exc}): {_NUMBER_HINT}"
    except UNDECODABLE:
        return "properties are not valid JSON"
    if not isinstance(props, dict):
        return "properties must be a JSON object"
    for key in ("survey_id", "response_id"):
        value = props.get(key)
        if key == "response_id" and value is None:
            continue
        if not isinstance(value, str) or not value:
            return f"properties.{key} must be a non-empty string"
        if "\0" in value:
            return f"properties.{key} {_NUL_PROBLEM}: remove U+0000 and unpaired surrogates"
    kind = props.get("kind")
    if not isinstance(kind, str) or kind not in SURVEY_SCORE_RANGES:
        shown = repr(kind)[:40]
        return f"properties.kind must be one of {', '.join(SURVEY_SCORE_RANGES)}; got {shown}"
    score = props.get("score")
    low, high = SURVEY_SCORE_RANGES[kind]
    # A number beyond a double is kept as a Raw; a 400-digit integer compares exactly.
    if not isinstance(score, int | float) or isinstance(score, bool) or not low <= score <= high:
        return f"properties.score must be a number from {low:g} to {high:g} for kind {kind!r}"
    comment = props.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS):
        return f"properties.comment must be text of at most {MAX_COMMENT_CHARS} characters"
    partial = props.get("partial")
    if partial is not None and not isinstance(partial, bool):
        return "properties.partial must be true or false"
    return None


_raw_decoder = msgspec.json.Decoder(msgspec.Raw)
# One step of the depth scan, each matched in C: a chain of objects opened by keys without
# brackets (``{"a":{"b":``), a run of opening brackets or one of closing brackets (with the
# numbers, commas and spaces between them), or a quote.
_STRUCTURE = re.compile(
    rb'(?:\{\s*"[^"\\{}\[\]]*"\s*:\s*)+|(?:[{\[][^"{}\[\]]*)+|(?:[}\]][^"{}\[\]]*)+|"'
)
_BRACKETS = re.compile(rb"[{}\[\]]")


def _nth_bracket(token: bytes, n: int, brackets: int) -> int:
    """Offset of the n-th (from 1) of the ``brackets`` brackets in a scan step."""
    if brackets == len(token):  # nothing but brackets, as in ]]]]]]
        return n - 1
    for count, found in enumerate(_BRACKETS.finditer(token), 1):
        if count == n:
            return found.start()
    raise AssertionError(n)  # pragma: no cover - callers count the brackets first


# Containers nested less than this are never candidates for a too_deep marker.
_SCAN_DEPTH = 64


def _deep_spans(body: bytes, level: int) -> list[tuple[int, int]]:
    """(start, end) of each object/array at nesting ``level`` (the body is level 1) holding
    more than _SCAN_DEPTH levels. Only run on a body a decoder could not follow; the steps
    are matched in C, so 500 KB of nesting takes tens of milliseconds."""
    spans: list[tuple[int, int]] = []
    depth = deepest = start = 0
    search, find = _STRUCTURE.search, body.find
    match = search(body)
    while match is not None:
        index, token = match.start(), match.group()
        if token == b'"':  # skip the string: its closing quote is not escaped
            end = index
            while True:
                end = find(b'"', end + 1)
                if end < 0:
                    return spans  # truncated: the decoder will say so
                slashes = 0
                while body[end - 1 - slashes] == 92:  # backslash
                    slashes += 1
                if slashes % 2 == 0:
                    break
            match = search(body, end + 1)
            continue
        if token[0] in b"{[":
            opens = token.count(b"{") + token.count(b"[")
            if depth < level <= depth + opens:
                start, deepest = index + _nth_bracket(token, level - depth, opens), level
            depth += opens
            deepest = max(deepest, depth)
        else:
            closes = token.count(b"}") + token.count(b"]")
            if depth - closes < level <= depth and deepest - level >= _SCAN_DEPTH:
                end = index + _nth_bracket(token, depth - level + 1, closes) + 1
                spans.append((start, end))
            depth -= closes
        match = search(body, match.end())
    return spans


def _follows(data: bytes) -> bool:
    """Whether the checks can decode this event: tried deeper than they will decode it."""
    try:
        with_headroom(2 * HEADROOM_FRAMES, _raw_decoder.decode, data)
    except RecursionError:
        return False
    except msgspec.DecodeError:
        return True  # malformed: the decoders refuse it with a clear message
    return True


def _too_deep_marker(data: bytes, write_key: object = None) -> bytes:
    """What is logged instead of an event no decoder can read: the reference path rejects it
    as ``too_deep``; the digest keeps distinct events distinct (and a replay a duplicate)."""
    marker: dict[str, object] = {
        MARKER_KEY: "too_deep",
        "bytes": len(data),
        "digest": hashlib.blake2b(data, digest_size=16).hexdigest(),
    }
    if isinstance(write_key, str):
        marker["writeKey"] = write_key
    return _encoder.encode(marker)


def _replace_spans(
    body: bytes, spans: list[tuple[int, int]], by: Callable[[bytes], bytes]
) -> bytes:
    parts, last = [], 0
    for start, end in spans:
        parts += [body[last:start], by(body[start:end])]
        last = end
    parts.append(body[last:])
    return b"".join(parts)


def defuse_body(body: bytes, route_type: str | None) -> bytes:
    """The body with each event no decoder can follow (nested too deep) replaced by a marker
    that the reference path rejects as ``too_deep``; the other events are kept as sent.

    Only called after a decoder raised RecursionError: the depth of every body is not proven
    on the fast path, where a scan would cost more than the decode itself."""
    if route_type is not None:  # the body is the event: is it the one too deep?
        if _follows(body):
            return body
        shallow = _replace_spans(body, _deep_spans(body, 2), lambda _: b"null")
        try:
            write_key = _single_decoder.decode(shallow).write_key
        except (*UNDECODABLE, msgspec.ValidationError):
            write_key = None
        return _too_deep_marker(body, write_key)
    spans = [(a, b) for a, b in _deep_spans(body, 3) if not _follows(body[a:b])]
    return _replace_spans(body, spans, _too_deep_marker)


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
