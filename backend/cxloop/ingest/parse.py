"""Request bodies into decoded requests (parsing): the envelope decoders, the refusals of a
whole request (not UTF-8, not JSON, too many events, too large), and the guard for bodies
nested deeper than any decoder can follow.

Part of the reference path, with :mod:`cxloop.ingest.validate` and :mod:`cxloop.ingest.enrich`:
the pipeline builds event rows with it after the ack (:mod:`cxloop.ingest.expand`), and the
verdict before the ack (:mod:`cxloop.ingest.check`) falls back to it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from cxloop.ingest.wire import BatchEnvelope, SingleEnvelope

__all__ = [
    "HEADROOM_FRAMES",
    "MARKER_KEY",
    "MAX_SAFE_DEPTH",
    "UNDECODABLE",
    "UNREADABLE",
    "IngestError",
    "Limits",
    "ParsedRequest",
    "decode_members",
    "defuse_body",
    "keep_numbers_decoder",
    "parse_batch",
    "parse_single",
    "plain_member",
    "require_utf8",
    "with_headroom",
]

# Nesting every decoder follows on any stack we run on (an event object is level 1). Deeper
# events are refused as ``too_deep`` when the decoder cannot follow them (about 900 levels at
# Python's default recursion limit); proving the exact depth of every accepted body would cost
# the fast path more than its decode (see defuse_body).
MAX_SAFE_DEPTH = 500
# The stand-in logged for an event no decoder can read (see defuse_body); never a real field.
MARKER_KEY = "$cxloop"

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


@dataclass(slots=True)
class ParsedRequest:
    """A decoded request whose events still wait for the project id (known after auth)."""

    write_key: str | None
    events: list[msgspec.Raw]
    batch_context: dict[str, Any] | None = None
    batch_integrations: dict[str, Any] | None = None
    batch_sent_at: datetime | None = None
    route_type: str | None = None


_batch_decoder = msgspec.json.Decoder(BatchEnvelope)
_single_decoder = msgspec.json.Decoder(SingleEnvelope)
_raw_decoder = msgspec.json.Decoder(msgspec.Raw)
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
# An object's members kept as raw JSON: rewritten members re-encode exactly as sent.
decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
UNREADABLE = object()


def plain_member(value: object) -> object:
    """A member kept raw, decoded; ``UNREADABLE`` for a number no decoder reads."""
    if not isinstance(value, msgspec.Raw):
        return value
    try:
        return _any_decoder.decode(value)
    except msgspec.ValidationError:
        return UNREADABLE


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


def _too_deep_request() -> IngestError:
    return IngestError(
        400,
        "too_deep",
        "the batch-level context or integrations nest deeper than can be decoded "
        f"(up to {MAX_SAFE_DEPTH} levels are always accepted): flatten them",
    )


def _holds_marker(value: dict[str, Any] | None) -> bool:
    return bool(value) and f'"{MARKER_KEY}":'.encode() in _encoder.encode(value)


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
