"""From WAL rows to the parallel arrays the upserts take; pure Python, no database.

Each event is parsed once (msgspec), and events for the same row are collapsed here, because
one ``INSERT ... ON CONFLICT`` may not touch the same row twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from cxloop.alerts import is_detractor
from cxloop.db import pg_json, pg_json_numbers, pg_text_or_none
from cxloop.surveys import Kind, is_kind

__all__ = [
    "RESPONSE_FIELDS",
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
    "rank_key",
]

SURVEY_RESPONDED = "Survey Responded"
SURVEY_SHOWN = "Survey Shown"
SURVEY_DISMISSED = "Survey Dismissed"
_IMPRESSIONS = {SURVEY_SHOWN: "shown", SURVEY_DISMISSED: "dismissed"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The times a Python datetime holds (years 1 to 9999), as microseconds since the epoch.
MIN_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
MAX_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)

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
    # The rank key (``rank_key``) of the event that supplied each of RESPONSE_FIELDS, None for
    # the row's own (column field_ranks, migration 0011); None: every field is the row's own.
    field_ranks: tuple[str | None, ...] | None = None

    def rank(self) -> tuple[bool, int, str]:
        """Completed beats partial, then the later event, then the larger message_id."""
        return (not self.partial, self.updated_at, self.message_id)

    def rank_key(self) -> str:
        """``rank`` as text ordered like it (code point order), as SQL's cxloop_response_rank."""
        return rank_key(self.partial, self.updated_at, self.message_id)

    def field_rank(self, number: int) -> str | None:
        """The rank of the value of RESPONSE_FIELDS[number]; None when the field has none."""
        if getattr(self, RESPONSE_FIELDS[number]) is None:
            return None
        stored = self.field_ranks[number] if self.field_ranks is not None else None
        return self.rank_key() if stored is None else stored


# The fields of a response each filled from the highest-ranked event that has a value; the
# order of the column field_ranks (migration 0011).
RESPONSE_FIELDS = (
    "survey_id", "kind", "score", "comment", "feature", "user_id", "anonymous_id", "account_id",
    "locale", "page_path",
)  # fmt: skip
_RANK_TIME_OFFSET = 10**18  # keeps every time of years 1 to 9999 positive in 19 digits


def rank_key(partial: bool, updated_at: int, message_id: str) -> str:
    """An event's rank as text whose code point order is (completed, time, message_id)'s."""
    return f"{0 if partial else 1}{updated_at + _RANK_TIME_OFFSET:019d}{message_id}"


def merge_responses(stored: ResponseRow, incoming: ResponseRow) -> ResponseRow:
    """Two rows of one response → one row; mirrors ``UPSERT_RESPONSES`` exactly.

    Each field keeps the value of the highest-ranked event that has one (a tie keeps
    ``stored``'s), so the result does not depend on the order rows are merged in.
    """
    winner = incoming if incoming.rank() > stored.rank() else stored
    row_rank = winner.rank_key()
    values: dict[str, Any] = {}
    ranks: list[str | None] = []
    for number, name in enumerate(RESPONSE_FIELDS):
        stored_rank, incoming_rank = stored.field_rank(number), incoming.field_rank(number)
        if _outranks(incoming_rank, stored_rank):
            values[name], rank = getattr(incoming, name), incoming_rank
        else:
            values[name], rank = getattr(stored, name), stored_rank
        ranks.append(None if rank == row_rank else rank)
    return msgspec.structs.replace(
        winner,
        **values,
        partial=stored.partial and incoming.partial,
        responded_at=min(stored.responded_at, incoming.responded_at),
        field_ranks=None if all(rank is None for rank in ranks) else tuple(ranks),
    )


def _outranks(incoming: str | None, stored: str | None) -> bool:
    """SQL's cxloop_outranks: an incoming value replaces none or a lower-ranked one."""
    return incoming is not None and (stored is None or incoming > stored)


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


class Seen(msgspec.Struct, frozen=True):
    """One users/accounts/memberships row of the batch: first and last event time, and
    ``marked``: users/accounts, the latest event that carried traits; memberships, the latest
    group call (microseconds since the epoch)."""

    first: int
    last: int
    marked: int | None = None


class SeenRows(Mapping[tuple[str, ...], Seen]):
    """Rows collapsed to one per key by an Arrow hash aggregate, kept as columns (the upsert
    takes columns); keys in order of first appearance. A mapping for readers and tests."""

    def __init__(self, keys: list[pa.Array], first: pa.Array, last: pa.Array, marked: pa.Array):
        self.key_columns, self.first, self.last, self.marked = keys, first, last, marked

    @classmethod
    def empty(cls, width: int) -> SeenRows:
        nothing = pa.array([], pa.int64())
        return cls([pa.array([], pa.string())] * width, nothing, nothing, nothing)

    def csv(self) -> bytes:
        """The rows as CSV for COPY: key columns, then first, last, marked (microseconds)."""
        columns = [*self.key_columns, self.first, self.last, self.marked]
        return _csv(pa.table(columns, names=[f"c{i}" for i in range(len(columns))]))

    def _index(self) -> dict[tuple[str, ...], int]:
        index: dict[tuple[str, ...], int] | None = getattr(self, "_by_key", None)
        if index is None:
            keys = zip(*(column.to_pylist() for column in self.key_columns), strict=True)
            index = {key: position for position, key in enumerate(keys)}
            self._by_key = index
        return index

    def __getitem__(self, key: tuple[str, ...]) -> Seen:
        position = self._index()[key]
        return Seen(
            self.first[position].as_py(), self.last[position].as_py(), self.marked[position].as_py()
        )

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self.first)


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

    def csv(self) -> bytes:
        """The rows as CSV for COPY: project, entity, traits (JSON text), time (microseconds)."""
        return _csv(
            pa.table(
                [
                    pa.array(self.project_ids, pa.string()),
                    pa.array(self.entity_ids, pa.string()),
                    pa.array(self.traits, pa.string()),
                    pa.array(self.timestamps, pa.int64()),
                ],
                names=["project_id", "entity_id", "traits", "at"],
            )
        )


@dataclass
class PreparedBatch:
    """Everything the upserts need, collapsed per target row."""

    events: int = 0
    failed_rows: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    users: SeenRows = field(default_factory=lambda: SeenRows.empty(2))
    user_traits: _TraitRows = field(default_factory=_TraitRows)
    accounts: SeenRows = field(default_factory=lambda: SeenRows.empty(2))
    account_traits: _TraitRows = field(default_factory=_TraitRows)
    memberships: SeenRows = field(default_factory=lambda: SeenRows.empty(3))
    responses: dict[tuple[str, str], ResponseRow] = field(default_factory=dict)
    impressions: dict[tuple[str, str], ImpressionRow] = field(default_factory=dict)
    # Responses with an event giving a detractor score: they open an alert (cxloop.alerts),
    # even when a later event of the same batch changed the score.
    detractor_responses: set[tuple[str, str]] = field(default_factory=set)

    def group_call_user_args(self) -> list[list[Any]]:
        """(project, user) of every user with a group call in the batch."""
        memberships = self.memberships
        called = pc.is_valid(memberships.marked)
        users = sorted(
            set(
                zip(
                    pc.filter(memberships.key_columns[0], called).to_pylist(),
                    pc.filter(memberships.key_columns[1], called).to_pylist(),
                    strict=True,
                )
            )
        )
        return [[u[0] for u in users], [u[1] for u in users]]

    def response_csv(self) -> bytes:
        """The collapsed responses as CSV for COPY (``STAGE_RESPONSES``'s columns)."""
        rows = list(self.responses.values())
        return _csv(
            pa.table(
                {
                    "project_id": pa.array([r.project_id for r in rows], pa.string()),
                    "response_id": pa.array([r.response_id for r in rows], pa.string()),
                    "survey_id": pa.array([r.survey_id for r in rows], pa.string()),
                    "kind": pa.array([r.kind for r in rows], pa.string()),
                    "score": pa.array([r.score for r in rows], pa.float64()),
                    "comment": pa.array([r.comment for r in rows], pa.string()),
                    "feature": pa.array([r.feature for r in rows], pa.string()),
                    "user_id": pa.array([r.user_id for r in rows], pa.string()),
                    "anonymous_id": pa.array([r.anonymous_id for r in rows], pa.string()),
                    "account_id": pa.array([r.account_id for r in rows], pa.string()),
                    "partial": pa.array([r.partial for r in rows], pa.bool_()),
                    "message_id": pa.array([r.message_id for r in rows], pa.string()),
                    "responded_us": pa.array([r.responded_at for r in rows], pa.int64()),
                    "updated_us": pa.array([r.updated_at for r in rows], pa.int64()),
                    "locale": pa.array([r.locale for r in rows], pa.string()),
                    "page_path": pa.array([r.page_path for r in rows], pa.string()),
                    "field_ranks": pa.array(
                        [_text_array(r.field_ranks) for r in rows], pa.string()
                    ),
                }
            )
        )

    def impression_csv(self) -> bytes:
        """The impressions as CSV for COPY (``STAGE_IMPRESSIONS``'s columns)."""
        rows = list(self.impressions.values())
        return _csv(
            pa.table(
                {
                    "project_id": pa.array([r.project_id for r in rows], pa.string()),
                    "message_id": pa.array([r.message_id for r in rows], pa.string()),
                    "event": pa.array([r.event for r in rows], pa.string()),
                    "survey_id": pa.array([r.survey_id for r in rows], pa.string()),
                    "kind": pa.array([r.kind for r in rows], pa.string()),
                    "feature": pa.array([r.feature for r in rows], pa.string()),
                    "user_id": pa.array([r.user_id for r in rows], pa.string()),
                    "anonymous_id": pa.array([r.anonymous_id for r in rows], pa.string()),
                    "account_id": pa.array([r.account_id for r in rows], pa.string()),
                    "locale": pa.array([r.locale for r in rows], pa.string()),
                    "page_path": pa.array([r.page_path for r in rows], pa.string()),
                    "detail": pa.array([r.detail for r in rows], pa.string()),
                    "occurred_us": pa.array([r.occurred_at for r in rows], pa.int64()),
                }
            )
        )

    def alert_args(self) -> list[list[Any]]:
        keys = list(self.responses)
        return [
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k in self.detractor_responses for k in keys],
        ]


def _text_array(elements: tuple[str | None, ...] | None) -> str | None:
    """A PostgreSQL text[] literal (NULL elements, every other one quoted and escaped)."""
    if elements is None:
        return None
    quoted = (
        "NULL" if element is None else '"' + element.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for element in elements
    )
    return "{" + ",".join(quoted) + "}"


def to_datetime(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


# Every non-null value quoted: an empty string stays one, an unquoted empty field is NULL.
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")


def _csv(table: pa.Table) -> bytes:
    """``table`` as CSV for ``COPY ... (FORMAT csv)``, written by Arrow (no Python per value)."""
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, write_options=_CSV_OPTIONS)
    data: bytes = sink.getvalue().to_pybytes()
    return data


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


# The events whose properties or traits are read one by one; every other event (page and
# track calls: nearly all of them) only counts in the seen times, computed by Arrow.
_SURVEY_EVENTS = pa.array([SURVEY_RESPONDED, *_IMPRESSIONS], pa.string())
_ID_COLUMNS = ("project_id", "message_id", "user_id", "anonymous_id", "group_id")


def _pg_text_column(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """``pg_text`` for a whole string column: NUL becomes U+FFFD (Arrow strings are UTF-8, so
    they hold no unpaired surrogates)."""
    if _holds_nul(column):
        return pc.replace_substring(column, "\x00", "\ufffd")
    return column


def _holds_nul(column: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a NUL byte is anywhere in a string column's character data: one vectorised
    scan of its buffers (a slice's whole buffer is scanned: at worst a needless replace)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        data = chunk.buffers()[2]
        if data is not None and data.size and not np.frombuffer(data, np.uint8).all():
            return True
    return False


def _microseconds(table: pa.Table, name: str) -> pa.ChunkedArray:
    return pc.cast(table.column(name), pa.int64())


def prepare_batch(table: pa.Table | pa.RecordBatch) -> PreparedBatch:
    """Parse and collapse a WAL-schema table of valid events (see ``project_events``).

    Per event, Python only reads what only it can (traits of identify and group calls, survey
    events' properties and context: a small share of the stream); first/last seen per user,
    account and membership are one Arrow hash aggregate each, over all events at once.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    batch = PreparedBatch(events=table.num_rows)
    failed = pc.is_valid(table.column("failure_reason"))
    batch.failed_rows = pc.sum(failed).as_py() or 0
    if batch.failed_rows:
        table = table.filter(pc.invert(failed))
    n = table.num_rows
    if n == 0:
        return batch
    ids = {name: _pg_text_column(table.column(name)) for name in _ID_COLUMNS}
    kind, event = table.column("type"), table.column("event")
    # Event time; the receive time when the client gave none.
    at = pc.coalesce(_microseconds(table, "timestamp"), _microseconds(table, "received_at"))
    has_user = pc.fill_null(pc.not_equal(ids["user_id"], ""), False)
    has_group = pc.fill_null(pc.not_equal(ids["group_id"], ""), False)
    is_group_call = pc.fill_null(pc.equal(kind, "group"), False)
    read_one_by_one = pc.or_(
        pc.or_(
            pc.and_(pc.fill_null(pc.equal(kind, "identify"), False), has_user),
            pc.and_(is_group_call, has_group),
        ),
        pc.and_(
            pc.fill_null(pc.equal(kind, "track"), False),
            pc.fill_null(pc.is_in(event, _SURVEY_EVENTS), False),
        ),
    )
    _check_times(at, pc.or_(pc.or_(has_user, has_group), read_one_by_one))
    user_marked = np.zeros(n, dtype=np.bool_)
    account_marked = np.zeros(n, dtype=np.bool_)
    skipped = np.zeros(n, dtype=np.bool_)
    positions = pc.indices_nonzero(read_one_by_one)
    if len(positions):
        _read_one_by_one(
            batch,
            table.take(positions),
            {name: column.take(positions) for name, column in ids.items()},
            at.take(positions).to_pylist(),
            positions.to_numpy(),
            user_marked=user_marked,
            account_marked=account_marked,
            skipped=skipped,
        )
    keep = pa.array(~skipped) if skipped.any() else None
    batch.users = _seen(
        [ids["project_id"], ids["user_id"]], has_user, keep, at, pa.array(user_marked)
    )
    batch.accounts = _seen(
        [ids["project_id"], ids["group_id"]], has_group, keep, at, pa.array(account_marked)
    )
    batch.memberships = _seen(
        [ids["project_id"], ids["user_id"], ids["group_id"]],
        pc.and_(has_user, has_group),
        keep,
        at,
        is_group_call,
    )
    return batch


def _check_times(at: pa.ChunkedArray, used: pa.ChunkedArray) -> None:
    """Every time the batch writes is one Python (and so every reader) can hold, years 1 to
    9999; ``OverflowError`` otherwise, so the projector isolates and quarantines the event."""
    bounds = pc.min_max(pc.filter(at, used))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is not None and (low < MIN_US or high > MAX_US):
        raise OverflowError(f"an event time outside years 1 to 9999 ({low} .. {high} µs)")


def _seen(keys: list[Any], present: Any, keep: pa.Array | None, at: Any, marked: Any) -> SeenRows:
    """One row per key among the events where ``present``: earliest and latest event time, and
    the latest time of an event that is ``marked``."""
    where = present if keep is None else pc.and_(present, keep)
    columns = {f"k{i}": key for i, key in enumerate(keys)}
    rows = pa.table({**columns, "at": at, "marked": pc.if_else(marked, at, None)}).filter(where)
    grouped = rows.group_by(list(columns), use_threads=False).aggregate(
        [("at", "min"), ("at", "max"), ("marked", "max")]
    )
    return SeenRows(
        [grouped.column(name).combine_chunks() for name in columns],
        grouped.column("at_min").combine_chunks(),
        grouped.column("at_max").combine_chunks(),
        grouped.column("marked_max").combine_chunks(),
    )


def _read_one_by_one(
    batch: PreparedBatch,
    rows: pa.Table,
    ids: dict[str, Any],
    times: list[int],
    positions: Any,
    *,
    user_marked: Any,
    account_marked: Any,
    skipped: Any,
) -> None:
    """Identify and group calls' traits, survey events: parsed per event, in event order; an
    event that cannot be projected is marked ``skipped`` (it counts nowhere)."""
    response_events: dict[tuple[str, str], list[ResponseRow]] = {}
    columns = zip(
        positions.tolist(),
        ids["project_id"].to_pylist(),
        ids["message_id"].to_pylist(),
        rows.column("type").to_pylist(),
        rows.column("event").to_pylist(),
        ids["user_id"].to_pylist(),
        ids["anonymous_id"].to_pylist(),
        ids["group_id"].to_pylist(),
        times,
        rows.column("properties").to_pylist(),
        rows.column("traits").to_pylist(),
        rows.column("context").to_pylist(),
        strict=True,
    )
    for (
        position, project_id, message_id, kind, event, user_id, anonymous_id, group_id,
        at, properties, traits, context,
    ) in columns:  # fmt: skip
        project_id, message_id = project_id or "", message_id or ""
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
            skipped[position] = True
            continue
        if user_traits is not None:
            user_marked[position] = True
            batch.user_traits.add(project_id, user_id, user_traits, at)
        if group_traits is not None:
            account_marked[position] = True
            batch.account_traits.add(project_id, group_id, group_traits, at)
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


def _collapse_responses(events: list[ResponseRow]) -> ResponseRow:
    """Each field from the highest-ranked event that has it (merged in rank order only so
    that two copies of one event, which tie, always give the same row)."""
    events.sort(key=ResponseRow.rank)
    row = events[0]
    for event in events[1:]:
        row = merge_responses(row, event)
    return row
