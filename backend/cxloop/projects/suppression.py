"""Deleted subjects whose events are dropped: their digests, in memory, for ingest and the pipeline.

A deletion request adds a digest per id of its subject to ``privacy_suppressions``; from then
on every worker refuses the subject's events at ingest and the pipeline drops any that slipped
through (acked before, replayed, or logged by a worker that had not refreshed yet). Only digests
are held (``subject_digest``), never the ids, so neither this list nor its mirror in
``state/suppressions.json`` names anyone. A project without suppressions costs one dict lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec

from cxloop.db import Connection, Pool
from cxloop.projects.mirror import refresh_forever, write_atomically

__all__ = [
    "SUBJECT_KINDS",
    "SUPPRESSIONS_STATE_KEY",
    "SubjectKind",
    "SuppressionList",
    "event_subject_ids",
    "id_text",
    "subject_digest",
]

log = logging.getLogger("cxloop.projects")

# Where the app's lifespan leaves the list (``app.state``) for ingest and the privacy routes.
SUPPRESSIONS_STATE_KEY = "suppressions"
SubjectKind = Literal["user", "anonymous", "account"]
SUBJECT_KINDS: tuple[SubjectKind, ...] = ("user", "anonymous", "account")
SELECT_SUPPRESSIONS = "SELECT project_id, digest FROM privacy_suppressions"
ADDED_GRACE_S = 60.0


def subject_digest(project_id: str, kind: str, value: str) -> str:
    """sha256 hex of ``project_id \\0 kind \\0 value``: the same id in another project, or
    as another kind of id, is another subject."""
    data = f"{project_id}\0{kind}\0{value}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


# The same few ids come back event after event: their digests are remembered.
_cached_digest = functools.lru_cache(maxsize=65_536)(subject_digest)


class _Ids(msgspec.Struct, rename="camel", gc=False):
    """The ids of an event, however loosely it was sent (numbers included); its context is
    read only when it may name an account."""

    user_id: Any = None
    anonymous_id: Any = None
    group_id: Any = None
    previous_id: Any = None
    context: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class _Context(msgspec.Struct, rename="camel", gc=False):
    group_id: Any = None


class _BatchIds(msgspec.Struct, rename="camel", gc=False):
    user_id: Any = None
    anonymous_id: Any = None
    group_id: Any = None
    previous_id: Any = None
    context: _Context | None = None


class _Batch(msgspec.Struct, gc=False):
    batch: list[_BatchIds]
    context: _Context | None = None


_ids_decoder = msgspec.json.Decoder(_Ids)
_context_decoder = msgspec.json.Decoder(_Context)
_batch_decoder = msgspec.json.Decoder(_Batch)


def id_text(value: object) -> str | None:
    """An id as ingest reads it (its validation and the subject checks share this): Segment ids
    may arrive as numbers (kept as text), an empty string means absent."""
    if type(value) is str:  # nearly always
        return value or None
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


def event_subject_ids(
    raw: bytes | str, batch_context: object = None
) -> tuple[list[str], list[str], list[str]] | None:
    """(user ids, anonymous ids, account ids) an event as sent names: userId and previousId
    (an alias' previous id may be either kind) for people, groupId and ``context.groupId``
    (the event's, or the batch's) for accounts. None when the text is not a JSON object."""
    try:
        ids = _ids_decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    people = [i for i in (id_text(ids.user_id), id_text(ids.previous_id)) if i]
    anonymous = [i for i in (id_text(ids.anonymous_id), id_text(ids.previous_id)) if i]
    accounts = [id_text(ids.group_id)]
    # A key may be spelt with escapes ("\\u0067roupId"): those contexts are decoded too.
    context = bytes(ids.context)
    if b"roupId" in context or b"\\u" in context:
        with contextlib.suppress(msgspec.DecodeError, RecursionError):  # not an object
            accounts.append(id_text(_context_decoder.decode(context).group_id))
    if isinstance(batch_context, dict):
        accounts.append(id_text(batch_context.get("groupId")))
    return people, anonymous, [i for i in accounts if i]


class _SuppressionFile(msgspec.Struct, kw_only=True):
    version: int = 1
    digests: dict[str, list[str]] = msgspec.field(default_factory=dict)


_encode_file = msgspec.json.Encoder().encode
_decode_file = msgspec.json.Decoder(_SuppressionFile).decode


class SuppressionList:
    """Digests of deleted subjects per project, from memory; refreshed from PostgreSQL and
    mirrored to a file, so a worker restarted while PostgreSQL is down still suppresses."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._digests: dict[str, frozenset[str]] = self._load() if path is not None else {}
        self._saved = dict(self._digests)
        self._save_lock = asyncio.Lock()
        # Added here and not yet seen in PostgreSQL (the request's transaction may commit
        # after a refresh has started): kept through refreshes for a while.
        self._added: dict[tuple[str, str], float] = {}
        self._clock = time.monotonic

    def __len__(self) -> int:
        return sum(len(digests) for digests in self._digests.values())

    def active(self, project_id: str) -> bool:
        """Whether the project has any suppressed subject (the only cost for others)."""
        return project_id in self._digests

    def matches(
        self,
        project_id: str,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        previous_id: str | None = None,
    ) -> bool:
        """Whether any of these ids is a suppressed subject of the project."""
        if project_id not in self._digests:
            return False
        return self.matches_any(
            project_id, (user_id, previous_id), (anonymous_id, previous_id), (group_id,)
        )

    def matches_any(
        self,
        project_id: str,
        user_ids: Iterable[str | None],
        anonymous_ids: Iterable[str | None],
        account_ids: Iterable[str | None],
    ) -> bool:
        digests = self._digests.get(project_id)
        if digests is None:
            return False
        for kind, values in (("user", user_ids), ("anonymous", anonymous_ids),
                             ("account", account_ids)):  # fmt: skip
            for value in values:
                if value and _cached_digest(project_id, kind, value) in digests:
                    return True
        return False

    def matches_raw(self, project_id: str, raw: bytes | str, batch_context: object = None) -> bool:
        """Whether an event as sent (JSON text) names a suppressed subject of the project."""
        if project_id not in self._digests:
            return False
        ids = event_subject_ids(raw, batch_context)
        return ids is not None and self.matches_any(project_id, *ids)

    def named_in_batch(self, project_id: str, body: bytes) -> list[bool] | None:
        """For each event of a ``/v1/batch`` body, whether it names a suppressed subject, as
        :meth:`matches_raw` says, with one decode for the whole body. None when the project has
        no suppression or the body needs the event-by-event reading (an event or a context
        that is not an object, an id that is not a JSON scalar)."""
        digests = self._digests.get(project_id)
        if digests is None:
            return None
        try:
            envelope = _batch_decoder.decode(body)
        except (msgspec.DecodeError, RecursionError):
            return None
        digest = _cached_digest
        batch_group = id_text(envelope.context.group_id) if envelope.context is not None else None
        named: list[bool] = []
        for event in envelope.batch:
            user, anonymous = id_text(event.user_id), id_text(event.anonymous_id)
            previous, group = id_text(event.previous_id), id_text(event.group_id)
            context_group = id_text(event.context.group_id) if event.context is not None else None
            named.append(
                bool(
                    (user and digest(project_id, "user", user) in digests)
                    or (anonymous and digest(project_id, "anonymous", anonymous) in digests)
                    or (previous and digest(project_id, "user", previous) in digests)
                    or (previous and digest(project_id, "anonymous", previous) in digests)
                    or (group and digest(project_id, "account", group) in digests)
                    or (context_group and digest(project_id, "account", context_group) in digests)
                    or (batch_group and digest(project_id, "account", batch_group) in digests)
                )
            )
        return named

    def add(self, project_id: str, digests: Iterable[str]) -> None:
        """Suppress at once in this process (the request's own worker need not wait for a
        refresh); the next refresh confirms it from PostgreSQL."""
        added = frozenset(digests)
        until = self._clock() + ADDED_GRACE_S
        for digest in added:
            self._added[(project_id, digest)] = until
        current = self._digests.get(project_id, frozenset())
        self._digests = {**self._digests, project_id: current | added}

    def replace(self, digests: dict[str, frozenset[str]]) -> None:
        """The list as PostgreSQL holds it, plus what :meth:`add` added in the last minute."""
        merged = {project: set(values) for project, values in digests.items() if values}
        now = self._clock()
        for key, until in list(self._added.items()):
            project_id, digest = key
            if until < now or digest in merged.get(project_id, ()):
                del self._added[key]  # expired, or confirmed
            else:
                merged.setdefault(project_id, set()).add(digest)
        self._digests = {project: frozenset(values) for project, values in merged.items()}

    async def refresh(self, pool: Pool | Connection) -> int:
        """Replace the list with what PostgreSQL holds; returns how many digests. Raises what
        the database raises (the caller keeps the last list)."""
        rows = await pool.fetch(SELECT_SUPPRESSIONS)
        loaded: dict[str, set[str]] = {}
        for row in rows:
            loaded.setdefault(row["project_id"], set()).add(row["digest"])
        self.replace({project: frozenset(values) for project, values in loaded.items()})
        await self.persist()
        return len(self)

    async def run_refresher(
        self, pool: Pool | Connection, interval_s: float, *, max_backoff_s: float = 30.0
    ) -> None:
        """Refresh every ``interval_s`` until cancelled; outages are logged and retried."""
        await refresh_forever(
            lambda: self.refresh(pool),
            interval_s,
            log=log,
            what="suppressed subjects",
            known=lambda: len(self),
            max_backoff_s=max_backoff_s,
        )

    async def persist(self) -> None:
        if self.path is None or self._digests == self._saved:
            return
        async with self._save_lock:
            digests = self._digests
            try:
                await asyncio.to_thread(_write_atomically, self.path, digests)
            except OSError as exc:
                log.warning("cannot save suppressed subjects to %s: %s", self.path, exc)
            else:
                self._saved = digests

    def persist_now(self) -> None:
        """:meth:`persist` for a caller without an event loop (the pipeline's threads)."""
        if self.path is None or self._digests == self._saved:
            return
        digests = self._digests
        try:
            _write_atomically(self.path, digests)
        except OSError as exc:
            log.warning("cannot save suppressed subjects to %s: %s", self.path, exc)
        else:
            self._saved = digests

    def _load(self) -> dict[str, frozenset[str]]:
        assert self.path is not None
        try:
            data = _decode_file(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, msgspec.DecodeError) as exc:
            log.warning("ignoring unreadable suppression file %s: %s", self.path, exc)
            return {}
        return {project: frozenset(values) for project, values in data.digests.items() if values}


def _write_atomically(path: Path, digests: dict[str, frozenset[str]]) -> None:
    """A whole new copy renamed over ``path`` (several processes share the file)."""
    file = _SuppressionFile(
        digests={project: sorted(values) for project, values in digests.items()}
    )
    write_atomically(path, _encode_file(file))
