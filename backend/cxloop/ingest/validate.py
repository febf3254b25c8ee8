"""Each event valid or refused with a typed reason (validation): the event decoders, the
checks every event type needs, U+0000 in fields that become PostgreSQL text, object fields,
and a ``Survey Responded`` event's properties against the rating kinds.

Events are checked one by one, so one bad event never costs the other 2,499 in its batch; a
refused event becomes a failed row and a :class:`Rejection` (:mod:`cxloop.ingest.enrich`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cxloop.ingest.parse import (
    MARKER_KEY,
    MAX_SAFE_DEPTH,
    UNDECODABLE,
    UNREADABLE,
    decode_members,
    keep_numbers_decoder,
    plain_member,
)
from cxloop.ingest.wire import KNOWN_EVENT_FIELDS, FastEvent, WireEvent
from cxloop.projects import id_text
from cxloop.surveys import KINDS, SCALES, is_kind

__all__ = [
    "EVENT_TYPES",
    "NUL_PROBLEM",
    "SURVEY_EVENT",
    "TOO_DEEP",
    "CheckedEvent",
    "InvalidEvent",
    "Rejection",
    "checked_event",
    "holds_nul",
    "object_bytes",
    "survey_response_problem",
]

EVENT_TYPES = frozenset({"track", "identify", "group", "page", "screen", "alias"})
SURVEY_EVENT = "Survey Responded"
MAX_COMMENT_CHARS = 10_000
# Fields whose text reaches PostgreSQL as a column (or an id): U+0000 is refused there.
_NUL_ESCAPE = b"\\u0000"
_OUT_OF_RANGE = ("Number out of range", "Integer value out of range")
_NUMBER_HINT = "send ids and timestamps as text, and numbers within ±1.8e308"
NUL_PROBLEM = "holds U+0000 or an unpaired surrogate"
_SURVEY_ID_NUL_PROBLEMS = tuple(
    f"properties.{key} {NUL_PROBLEM}" for key in ("survey_id", "response_id")
)
TOO_DEEP = (
    "the event nests objects/arrays deeper than can be decoded "
    f"(up to {MAX_SAFE_DEPTH} levels are always accepted): flatten it; it is not stored"
)


class Rejection(msgspec.Struct):
    """A refused event as the ack lists it."""

    index: int
    messageId: str
    reason: str
    detail: str


class InvalidEvent(Exception):
    """An event refused: its reason code and a sentence saying what to fix."""

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


_event_decoder = msgspec.json.Decoder(WireEvent)
_fast_decoder = msgspec.json.Decoder(FastEvent)
_encoder = msgspec.json.Encoder()


# A decoded event that passed every check of its own fields (its context is checked when it
# is merged with the batch's, cxloop.ingest.enrich.context_bytes): (event, event_type,
# message_id, user_id, anonymous_id, group_id, previous_id, properties, traits, integrations,
# extra = unknown top-level fields kept as sent). A plain tuple: it is built once per event,
# and a NamedTuple costs several times as much to build.
CheckedEvent = tuple[
    FastEvent | WireEvent,
    str,
    str | None,
    str | None,
    str | None,
    str | None,
    str | None,
    bytes | None,
    bytes | None,
    bytes | None,
    bytes | None,
]


def checked_event(raw: msgspec.Raw, route_type: str | None, max_event_bytes: int) -> CheckedEvent:
    """The event decoded and checked, or :class:`InvalidEvent` saying why it is refused."""
    if len(raw) > max_event_bytes:
        raise InvalidEvent(
            "event_too_large",
            f"the event is {len(raw)} bytes; the limit is {max_event_bytes} bytes",
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
        message_id = id_text(event.message_id)
        user_id = id_text(event.user_id)
        anonymous_id = id_text(event.anonymous_id)
        group_id = id_text(event.group_id)
        previous_id = id_text(event.previous_id)

    if holds_nul(_raw_bytes(raw)):
        _refuse_nul(
            {
                "messageId": message_id,
                "userId": user_id,
                "anonymousId": anonymous_id,
                "groupId": group_id,
                "previousId": previous_id,
                "type": None if route_type else event.type,  # the route's type wins
                "event": event.event,
                "name": event.name,
            },
            None if message_id is None or "\0" in message_id else message_id,
        )
    event_type = route_type or event.type
    if event_type not in EVENT_TYPES:
        raise InvalidEvent(
            "invalid_type",
            f"type must be one of {', '.join(sorted(EVENT_TYPES))}; got {event.type!r}",
            message_id=message_id,
        )
    if user_id is None and anonymous_id is None:
        raise InvalidEvent(
            "missing_identity",
            "every event needs a userId or an anonymousId",
            message_id=message_id,
            event_type=event_type,
        )
    if event_type == "track" and not event.event:
        raise InvalidEvent(
            "missing_event",
            "a track call needs a non-empty 'event' name",
            message_id=message_id,
            event_type=event_type,
        )
    if event_type == "group" and group_id is None:
        raise InvalidEvent(
            "missing_group_id",
            "a group call needs a 'groupId' (the customer account)",
            message_id=message_id,
            event_type=event_type,
        )
    if event_type == "alias" and previous_id is None:
        raise InvalidEvent(
            "missing_previous_id",
            "an alias call needs a 'previousId'",
            message_id=message_id,
            event_type=event_type,
        )
    properties = object_bytes(event.properties, "properties", message_id, event_type)
    traits = object_bytes(event.traits, "traits", message_id, event_type)
    integrations = object_bytes(event.integrations, "integrations", message_id, event_type)
    if event_type == "track" and event.event == SURVEY_EVENT:
        problem = survey_response_problem(properties)
        if problem is not None:
            reason = (
                "invalid_character"
                if problem.startswith(_SURVEY_ID_NUL_PROBLEMS)
                else "invalid_survey_response"
            )
            raise InvalidEvent(reason, problem, message_id=message_id, event_type=event_type)
    return (
        event,
        event_type,
        message_id,
        user_id,
        anonymous_id,
        group_id,
        previous_id,
        properties,
        traits,
        integrations,
        extra,
    )


def _decode_with_unknown_fields(
    raw: msgspec.Raw, error: msgspec.ValidationError
) -> tuple[WireEvent, bytes | None]:
    """Slow path: split known from unknown top-level fields, keep the unknown ones.

    Members stay raw JSON until needed, so unknown fields (and object fields) are kept as
    sent, numbers no decoder reads included."""
    try:
        members = decode_members(raw)
    except msgspec.ValidationError as exc:
        raise InvalidEvent("not_an_object", "each event must be a JSON object") from exc
    except msgspec.DecodeError as exc:  # pragma: no cover - the envelope already parsed it
        raise InvalidEvent("invalid_json", str(exc)) from exc
    if plain_member(members.get(MARKER_KEY)) == "too_deep":
        raise InvalidEvent("too_deep", TOO_DEEP)
    known = {
        k: v if k in _RAW_FIELDS else plain_member(v)
        for k, v in members.items()
        if k in KNOWN_EVENT_FIELDS
    }
    unknown = {k: v for k, v in members.items() if k not in KNOWN_EVENT_FIELDS}
    raw_id = known.get("messageId")
    message_id = id_text(raw_id) if _isid_text(raw_id) else None
    kind = known.get("type")
    for name, value in known.items():
        if value is UNREADABLE:
            raise InvalidEvent(
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


def _typed_invalid(
    error: msgspec.ValidationError, message_id: str | None, kind: Any
) -> InvalidEvent:
    text = str(error)
    if text.startswith(_OUT_OF_RANGE):
        reason, text = "number_out_of_range", f"{text}: {_NUMBER_HINT}"
    elif any(p in text for p in _TIMESTAMP_PATHS):
        reason = "invalid_timestamp"
    else:
        reason = "invalid_field"
    return InvalidEvent(
        reason, text, message_id=message_id, event_type=kind if isinstance(kind, str) else None
    )


def _isid_text(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def holds_nul(data: bytes) -> bool:
    """U+0000 can only be sent escaped; the one-byte search first is ~20x cheaper."""
    return b"\\" in data and _NUL_ESCAPE in data


def _raw_bytes(raw: msgspec.Raw | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else bytes(raw)


def _refuse_nul(fields: dict[str, object], message_id: str | None) -> None:
    """Identifier and name fields become PostgreSQL text: U+0000 there refuses the event."""
    for name, value in fields.items():
        if isinstance(value, str) and "\0" in value:
            raise InvalidEvent(
                "invalid_character",
                f"{name} {NUL_PROBLEM}: remove U+0000 and unpaired surrogates from it",
                message_id=message_id,
            )


def object_bytes(
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
    raise InvalidEvent(
        "invalid_field",
        f"'{name}' must be a JSON object",
        message_id=message_id,
        event_type=event_type,
    )


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
            return f"properties.{key} {NUL_PROBLEM}: remove U+0000 and unpaired surrogates"
    kind = props.get("kind")
    if not is_kind(kind):
        shown = repr(kind)[:40]
        return f"properties.kind must be one of {', '.join(KINDS)}; got {shown}"
    score = props.get("score")
    low, high = SCALES[kind].lowest, SCALES[kind].highest
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
