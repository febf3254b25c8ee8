"""From WAL rows to the parallel arrays the upserts take; pure Python, no database.

Each event is parsed once (msgspec), and events for the same row are collapsed here, because
one ``INSERT ... ON CONFLICT`` may not touch the same row twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from cxloop.alerts import is_detractor
from cxloop.db import pg_json, pg_json_numbers, pg_text_or_none
from cxloop.surveys import Kind, is_kind

__all__ = [
    "SURVEY_DISMISSED",
    "SURVEY_RESPONDED",
    "SURVEY_SHOWN",
    "ImpressionRow",
    "InvalidRow",
    "PreparedBatch",
    "ResponseRow",
    "SurveyResponded",
    "merge_responses",
    "prepare_batch",
]

SURVEY_RESPONDED = "Survey Responded"
SURVEY_SHOWN = "Survey Shown"
SURVEY_DISMISSED = "Survey Dismissed"
_IMPRESSIONS = {SURVEY_SHOWN: "shown", SURVEY_DISMISSED: "dismissed"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
# Ratings are small numbers (NPS 0-10, CSAT 1-5, ...); the bound only keeps out absurd values.
Score = Annotated[float, msgspec.Meta(ge=-1e9, le=1e9)]


class SurveyResponded(msgspec.Struct, kw_only=True):
    """The properties of a ``Survey Responded`` track event (other keys are ignored here)."""

    # Absent when another tool sent the rating: the event's messageId stands in for it.
    response_id: NonEmptyStr | None = None
    survey_id: str | None = None
    kind: Kind | None = None
    score: Score | None = None
    comment: str | None = None
    feature: str | None = None
    partial: bool | None = None  # null or absent: a complete response


_decode_object = msgspec.json.Decoder(dict[str, Any] | None).decode
_decode_object_exact = msgspec.json.Decoder(dict[str, Any] | None, float_hook=Decimal).decode


class _ContextTraits(msgspec.Struct):
    traits: msgspec.Raw = msgspec.Raw(b"null")


_decode_context_traits = msgspec.json.Decoder(_ContextTraits).decode


class _Page(msgspec.Struct):
    path: Any = None


class _SurveyContext(msgspec.Struct):
    """What a survey event's context says about where it was given (other keys ignored)."""

    locale: Any = None
    page: _Page | None = None


_decode_survey_context = msgspec.json.Decoder(_SurveyContext).decode


class _Impression(msgspec.Struct):
    """The properties of ``Survey Shown`` / ``Survey Dismissed`` (other keys are ignored)."""

    survey_id: Any = None
    kind: Any = None
    feature: Any = None
    placement: Any = None
    reason: Any = None


_decode_impression = msgspec.json.Decoder(_Impression).decode
_decode_survey = msgspec.json.Decoder(SurveyResponded).decode


class ResponseRow(msgspec.Struct, kw_only=True):
    """One survey_responses row; times in microseconds since the epoch."""

    project_id: str
    response_id: str
    survey_id: str | None
    kind: str | None
    score: float | None
    comment: str | None
    feature: str | None
    user_id: str | None
    anonymous_id: str | None
    account_id: str | None
    locale: str | None = None
    page_path: str | None = None
    partial: bool
    message_id: str
    responded_at: int
    updated_at: int

    def rank(self) -> tuple[bool, int, str]:
        """Completed beats partial, then the later event, then the larger message_id."""
        return (not self.partial, self.updated_at, self.message_id)


_RESPONSE_FILLED_FIELDS = (
    "survey_id", "kind", "score", "comment", "feature", "user_id", "anonymous_id", "account_id",
    "locale", "page_path",
)  # fmt: skip


def merge_responses(stored: ResponseRow, incoming: ResponseRow) -> ResponseRow:
    """Two events of one response → one row; mirrors ``UPSERT_RESPONSES`` exactly."""
    winner, other = (incoming, stored) if incoming.rank() > stored.rank() else (stored, incoming)
    filled = {
        name: getattr(winner, name) if getattr(winner, name) is not None else getattr(other, name)
        for name in _RESPONSE_FILLED_FIELDS
    }
    return msgspec.structs.replace(
        winner,
        **filled,
        partial=stored.partial and incoming.partial,
        responded_at=min(stored.responded_at, incoming.responded_at),
    )


class ImpressionRow(msgspec.Struct, kw_only=True):
    """One survey_impressions row (a ``Survey Shown`` or ``Survey Dismissed`` event)."""

    project_id: str
    message_id: str
    event: str  # shown | dismissed
    survey_id: str | None
    kind: str | None
    feature: str | None
    user_id: str | None
    anonymous_id: str | None
    account_id: str | None
    locale: str | None
    page_path: str | None
    detail: str | None  # shown: the placement; dismissed: the reason
    occurred_at: int


class InvalidRow(msgspec.Struct, frozen=True):
    """An event the projector skipped, and why."""

    project_id: str
    message_id: str
    reason: str


@dataclass
class _Seen:
    first: int
    last: int
    # users/accounts: latest event that carried traits; memberships: latest group call.
    marked: int | None = None

    def add(self, at: int, marked: bool) -> None:
        self.first = min(self.first, at)
        self.last = max(self.last, at)
        if marked and (self.marked is None or at > self.marked):
            self.marked = at


@dataclass
class _TraitRows:
    project_ids: list[str] = field(default_factory=list)
    entity_ids: list[str] = field(default_factory=list)
    traits: list[str] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)

    def add(self, project_id: str, entity_id: str, traits_json: str, at: int) -> None:
        self.project_ids.append(project_id)
        self.entity_ids.append(entity_id)
        self.traits.append(traits_json)
        self.timestamps.append(at)


@dataclass
class PreparedBatch:
    """Everything the upserts need, collapsed per target row."""

    events: int = 0
    failed_rows: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    users: dict[tuple[str, str], _Seen] = field(default_factory=dict)
    user_traits: _TraitRows = field(default_factory=_TraitRows)
    accounts: dict[tuple[str, str], _Seen] = field(default_factory=dict)
    account_traits: _TraitRows = field(default_factory=_TraitRows)
    memberships: dict[tuple[str, str, str], _Seen] = field(default_factory=dict)
    responses: dict[tuple[str, str], ResponseRow] = field(default_factory=dict)
    impressions: dict[tuple[str, str], ImpressionRow] = field(default_factory=dict)
    # Responses with an event giving a detractor score: they open an alert (cxloop.alerts),
    # even when a later event of the same batch changed the score.
    detractor_responses: set[tuple[str, str]] = field(default_factory=set)

    def user_args(self) -> list[list[Any]]:
        return [*_seen_args(self.users), *_trait_args(self.user_traits)]

    def account_args(self) -> list[list[Any]]:
        return [*_seen_args(self.accounts), *_trait_args(self.account_traits)]

    def membership_args(self) -> list[list[Any]]:
        keys = list(self.memberships)
        seen = list(self.memberships.values())
        return [
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [to_datetime(s.first) for s in seen],
            [to_datetime(s.last) for s in seen],
            [None if s.marked is None else to_datetime(s.marked) for s in seen],
        ]

    def group_call_user_args(self) -> list[list[Any]]:
        """(project, user) of every user with a group call in the batch."""
        users = sorted({(k[0], k[1]) for k, s in self.memberships.items() if s.marked is not None})
        return [[u[0] for u in users], [u[1] for u in users]]

    def response_args(self) -> list[list[Any]]:
        rows = list(self.responses.values())
        return [
            [r.project_id for r in rows],
            [r.response_id for r in rows],
            [r.survey_id for r in rows],
            [r.kind for r in rows],
            [r.score for r in rows],
            [r.comment for r in rows],
            [r.feature for r in rows],
            [r.user_id for r in rows],
            [r.anonymous_id for r in rows],
            [r.account_id for r in rows],
            [r.partial for r in rows],
            [r.message_id for r in rows],
            [to_datetime(r.responded_at) for r in rows],
            [to_datetime(r.updated_at) for r in rows],
            [r.locale for r in rows],
            [r.page_path for r in rows],
        ]

    def impression_args(self) -> list[list[Any]]:
        rows = sorted(self.impressions.values(), key=lambda r: (r.project_id, r.message_id))
        return [
            [r.project_id for r in rows],
            [r.message_id for r in rows],
            [r.event for r in rows],
            [r.survey_id for r in rows],
            [r.kind for r in rows],
            [r.feature for r in rows],
            [r.user_id for r in rows],
            [r.anonymous_id for r in rows],
            [r.account_id for r in rows],
            [r.locale for r in rows],
            [r.page_path for r in rows],
            [r.detail for r in rows],
            [to_datetime(r.occurred_at) for r in rows],
        ]

    def alert_args(self) -> list[list[Any]]:
        keys = list(self.responses)
        return [
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k in self.detractor_responses for k in keys],
        ]


def to_datetime(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _seen_args(seen: dict[tuple[str, str], _Seen]) -> list[list[Any]]:
    keys = list(seen)
    values = list(seen.values())
    return [
        [k[0] for k in keys],
        [k[1] for k in keys],
        [to_datetime(s.first) for s in values],
        [to_datetime(s.last) for s in values],
        [None if s.marked is None else to_datetime(s.marked) for s in values],
    ]


def _trait_args(rows: _TraitRows) -> list[list[Any]]:
    return [rows.project_ids, rows.entity_ids, rows.traits, rows.timestamps]


class _Invalid(Exception):
    """This event cannot be projected; the message says why."""


def _traits_json(raw: str | None) -> str | None:
    """The traits as JSON object text PostgreSQL will accept, or None when there are none."""
    if raw is None:
        return None
    raw = pg_json(raw)  # NUL and unpaired-surrogate escapes: jsonb refuses both
    refused_as_double = False
    try:
        traits = _decode_object(raw)
    except msgspec.DecodeError:
        # msgspec refuses floats beyond a double (1e400); jsonb's numeric holds them, up to
        # a bound (1e200000 becomes a string).
        try:
            traits = _decode_object_exact(raw)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise _Invalid(f"traits are not a JSON object: {exc}") from None
        refused_as_double = True
    except RecursionError as exc:
        raise _Invalid(f"traits are not a JSON object: {exc}") from None
    if not traits:
        return None
    return pg_json_numbers(raw, refused_as_double=refused_as_double)


def _identify_traits(traits: str | None, context: str | None) -> str | None:
    """An identify call's traits: top-level as Segment sends them, else ``context.traits``
    as RudderStack's browser SDK sends them."""
    if traits is not None or context is None or '"traits"' not in context:
        return traits
    try:
        nested = _decode_context_traits(context).traits
    except (msgspec.DecodeError, RecursionError):
        return None  # an unreadable context is not the traits' fault: project the rest
    data = bytes(nested)
    return data.decode() if data[:1] == b"{" else None


def _survey_response(raw: str | None) -> SurveyResponded:
    if raw is None:
        raise _Invalid("Survey Responded event without properties")
    try:
        response = _decode_survey(pg_json(raw))
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _Invalid(f"Survey Responded properties: {exc}") from None
    if response.score is not None and not math.isfinite(response.score):
        raise _Invalid("Survey Responded properties: score is not a finite number")
    return response


def _text(value: Any) -> str | None:
    """A non-empty string property as PostgreSQL text; anything else (numbers, objects) None."""
    return pg_text_or_none(value) if isinstance(value, str) and value else None


def _survey_context(context: str | None) -> tuple[str | None, str | None]:
    """(locale, page path) of a survey event; an unreadable context gives neither."""
    if context is None or ('"locale"' not in context and '"page"' not in context):
        return None, None
    try:
        decoded = _decode_survey_context(pg_json(context))
    except (msgspec.DecodeError, RecursionError):
        return None, None
    path = decoded.page.path if decoded.page is not None else None
    return _text(decoded.locale), _text(path)


def _impression(raw: str | None) -> _Impression:
    if raw is None:
        return _Impression()
    try:
        return _decode_impression(pg_json(raw))
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _Invalid(f"survey impression properties: {exc}") from None


def _column(table: Any, name: str) -> list[Any]:
    values: list[Any] = table.column(name).to_pylist()
    return values


def _microseconds(table: Any, name: str) -> list[int | None]:
    values: list[int | None] = pc.cast(table.column(name), pa.int64()).to_pylist()
    return values


def prepare_batch(table: pa.Table | pa.RecordBatch) -> PreparedBatch:
    """Parse and collapse a WAL-schema table of valid events (see ``project_events``)."""
    batch = PreparedBatch(events=table.num_rows)
    response_events: dict[tuple[str, str], list[ResponseRow]] = {}
    columns = zip(
        _column(table, "project_id"),
        _column(table, "message_id"),
        _column(table, "type"),
        _column(table, "event"),
        _column(table, "user_id"),
        _column(table, "anonymous_id"),
        _column(table, "group_id"),
        _microseconds(table, "timestamp"),
        _microseconds(table, "received_at"),
        _column(table, "properties"),
        _column(table, "traits"),
        _column(table, "context"),
        _column(table, "failure_reason"),
        strict=True,
    )
    for (
        project_id, message_id, kind, event, user_id, anonymous_id, group_id,
        timestamp, received_at, properties, traits, context, failure_reason,
    ) in columns:  # fmt: skip
        if failure_reason is not None:
            batch.failed_rows += 1
            continue
        project_id = pg_text_or_none(project_id) or ""
        message_id = pg_text_or_none(message_id) or ""
        user_id, anonymous_id = pg_text_or_none(user_id), pg_text_or_none(anonymous_id)
        group_id = pg_text_or_none(group_id)
        at: int = timestamp if timestamp is not None else received_at
        try:
            user_traits = (
                _traits_json(_identify_traits(traits, context))
                if kind == "identify" and user_id
                else None
            )
            group_traits = _traits_json(traits) if kind == "group" and group_id else None
            response = (
                _survey_response(properties)
                if kind == "track" and event == SURVEY_RESPONDED
                else None
            )
            impression = (
                _impression(properties) if kind == "track" and event in _IMPRESSIONS else None
            )
        except _Invalid as exc:
            batch.invalid.append(InvalidRow(project_id, message_id, str(exc)))
            continue

        if user_id:
            _see(batch.users, (project_id, user_id), at, marked=user_traits is not None)
            if user_traits is not None:
                batch.user_traits.add(project_id, user_id, user_traits, at)
        if group_id:
            _see(batch.accounts, (project_id, group_id), at, marked=group_traits is not None)
            if group_traits is not None:
                batch.account_traits.add(project_id, group_id, group_traits, at)
            if user_id:
                membership = (project_id, user_id, group_id)
                _see(batch.memberships, membership, at, marked=kind == "group")
        locale, page_path = (
            _survey_context(context)
            if response is not None or impression is not None
            else (None, None)
        )
        if impression is not None and (project_id, message_id) not in batch.impressions:
            impression_event = _IMPRESSIONS[event]
            batch.impressions[(project_id, message_id)] = ImpressionRow(
                project_id=project_id,
                message_id=message_id,
                event=impression_event,
                survey_id=_text(impression.survey_id),
                kind=impression.kind if is_kind(impression.kind) else None,
                feature=_text(impression.feature),
                user_id=user_id,
                anonymous_id=anonymous_id,
                account_id=group_id,
                locale=locale,
                page_path=page_path,
                detail=_text(
                    impression.placement if impression_event == "shown" else impression.reason
                ),
                occurred_at=at,
            )
        if response is not None:
            row = ResponseRow(
                project_id=project_id,
                response_id=pg_text_or_none(response.response_id) or message_id,
                survey_id=pg_text_or_none(response.survey_id),
                kind=response.kind,
                score=response.score,
                comment=pg_text_or_none(response.comment),
                feature=pg_text_or_none(response.feature),
                user_id=user_id,
                anonymous_id=anonymous_id,
                account_id=group_id,
                locale=locale,
                page_path=page_path,
                partial=bool(response.partial),
                message_id=message_id,
                responded_at=at,
                updated_at=at,
            )
            response_events.setdefault((project_id, row.response_id), []).append(row)
            if is_detractor(response.kind, response.score):
                batch.detractor_responses.add((project_id, row.response_id))
    for response_key, events in response_events.items():
        batch.responses[response_key] = _collapse_responses(events)
    return batch


def _see(seen: dict[Any, _Seen], key: Any, at: int, *, marked: bool) -> None:
    entry = seen.get(key)
    if entry is None:
        seen[key] = _Seen(at, at, at if marked else None)
    else:
        entry.add(at, marked)


def _collapse_responses(events: list[ResponseRow]) -> ResponseRow:
    """Merge in rank order, so each field comes from the highest-ranked event that has it."""
    events.sort(key=ResponseRow.rank)
    row = events[0]
    for event in events[1:]:
        row = merge_responses(row, event)
    return row
