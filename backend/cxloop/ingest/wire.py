"""The Segment wire format as msgspec Structs: the request envelope and one event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = ["KNOWN_EVENT_FIELDS", "BatchEnvelope", "ContextPeek", "FastEvent", "WireEvent"]

Identifier = str | int | float | None


class _EventFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Fields every event decoder shares. Unknown top-level fields make decoding fail on
    purpose: the slow path then keeps them in ``extra`` instead of dropping customer data."""

    type: str | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    # Kept as raw JSON bytes: stored as sent, parsed only where a consumer needs them.
    # (msgspec.Raw cannot be in a union; an empty Raw means the field was absent.)
    properties: msgspec.Raw = msgspec.Raw()
    traits: msgspec.Raw = msgspec.Raw()
    integrations: msgspec.Raw = msgspec.Raw()
    context: msgspec.Raw = msgspec.Raw()
    timestamp: datetime | None = None
    original_timestamp: datetime | None = None
    sent_at: datetime | None = None
    # Accepted and ignored: set by the server, or credentials that must not be stored.
    received_at: Any = None
    write_key: Any = None
    version: Any = None
    channel: str | None = None


class FastEvent(_EventFields):
    """The common case, decoded with no Python per field: ids are strings."""

    message_id: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    previous_id: str | None = None


class WireEvent(_EventFields):
    """Any Segment event: ids may also be numbers (some libraries send them)."""

    message_id: Identifier = None
    user_id: Identifier = None
    anonymous_id: Identifier = None
    group_id: Identifier = None
    previous_id: Identifier = None


class ContextPeek(msgspec.Struct):
    """The two context keys ingest acts on; decoding skips everything else in C."""

    groupId: Any = None
    ip: Any = None


KNOWN_EVENT_FIELDS = frozenset(field.encode_name for field in msgspec.structs.fields(WireEvent))


class BatchEnvelope(msgspec.Struct, rename="camel"):
    """``POST /v1/batch``: events stay raw so each is validated (and sized) on its own."""

    batch: list[msgspec.Raw]
    # Members kept raw: merged into each event's stored JSON as they were sent.
    context: dict[str, msgspec.Raw] | None = None
    integrations: dict[str, msgspec.Raw] | None = None
    sent_at: datetime | None = None
    write_key: str | None = None


class SingleEnvelope(msgspec.Struct, rename="camel"):
    """The single-event routes: only the credential is looked at before the event itself."""

    write_key: str | None = None
