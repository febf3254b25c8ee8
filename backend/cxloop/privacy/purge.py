"""A deletion's PostgreSQL step: every row of one data subject, in the caller's transaction.

What goes, and why (docs/privacy.md):

- ``users`` (the subject's traits), ``memberships`` (as the user, or of the account);
- ``survey_responses`` and ``survey_impressions`` given by the subject (for an account: those
  attributed to it); the daily rating rollups follow by their triggers; ``comment_term_df``
  is counted down by each deleted, analysed comment's terms, and a term no comment holds any
  more is removed (it may be a word only the subject wrote, such as their name);
- ``alerts`` about those responses, or naming the subject, are **deleted**, notes included: an
  alert is about one response of the subject; once the response is gone it has nothing left to
  act on, and notes about a person are that person's data too. Nulling the ids and redacting
  the notes would keep an orphan that still quotes the comment;
- ``webhook_deliveries`` whose payload names the subject: pending ones are deleted (sending
  them now would disclose the subject again); sent or given-up ones keep their log line with
  the payload replaced by ``{"redacted": "<request id>"}`` (attempts hold no payload);
- ``projection_quarantine`` rows of the subject's events (by message id);
- for an account: the ``accounts`` row and its ``health_snapshots``.

Every statement filters by ``project_id``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cxloop.db import Connection

__all__ = ["SubjectIds", "purge_subject"]


@dataclass(frozen=True, slots=True)
class SubjectIds:
    """The ids one deletion request names (any may be None)."""

    user_id: str | None = None
    anonymous_id: str | None = None
    account_id: str | None = None

    @classmethod
    def from_json(cls, subject: dict[str, str | None]) -> SubjectIds:
        return cls(subject.get("userId"), subject.get("anonymousId"), subject.get("accountId"))

    @property
    def ids(self) -> list[str]:
        """Every id, for searching payloads and lake rows."""
        return [v for v in (self.user_id, self.anonymous_id, self.account_id) if v]

    @property
    def person_ids(self) -> list[str]:
        return [v for v in (self.user_id, self.anonymous_id) if v]


# $2 user id, $3 anonymous id, $4 account id (NULL when not named: `= NULL` matches nothing).
DELETE_RESPONSES = """
DELETE FROM survey_responses
WHERE project_id = $1 AND (user_id = $2 OR anonymous_id = $3 OR account_id = $4)
RETURNING response_id, tokens
"""
DELETE_IMPRESSIONS = """
DELETE FROM survey_impressions
WHERE project_id = $1 AND (user_id = $2 OR anonymous_id = $3 OR account_id = $4)
"""
DELETE_ALERTS = """
DELETE FROM alerts
WHERE project_id = $1
  AND (user_id = $2 OR anonymous_id = $3 OR account_id = $4 OR response_id = any($5::text[]))
"""
DELETE_USER = "DELETE FROM users WHERE project_id = $1 AND user_id = $2"
DELETE_MEMBERSHIPS = """
DELETE FROM memberships WHERE project_id = $1 AND (user_id = $2 OR account_id = $3)
"""
DELETE_ACCOUNT = "DELETE FROM accounts WHERE project_id = $1 AND account_id = $2"
DELETE_SNAPSHOTS = "DELETE FROM health_snapshots WHERE project_id = $1 AND account_id = $2"
DELETE_QUARANTINE = """
DELETE FROM projection_quarantine WHERE project_id = $1 AND message_id = any($2::text[])
"""
# A payload names the subject when any string in it equals one of the ids ($2).
DELETE_PENDING_DELIVERIES = """
DELETE FROM webhook_deliveries
WHERE project_id = $1 AND status = 'pending' AND EXISTS (
    SELECT 1 FROM unnest($2::text[]) AS s(id)
    WHERE jsonb_path_exists(payload, '$.** ? (@ == $id)', jsonb_build_object('id', s.id))
)
"""
REDACT_SENT_DELIVERIES = """
UPDATE webhook_deliveries SET payload = jsonb_build_object('redacted', $3::text)
WHERE project_id = $1 AND status <> 'pending' AND EXISTS (
    SELECT 1 FROM unnest($2::text[]) AS s(id)
    WHERE jsonb_path_exists(payload, '$.** ? (@ == $id)', jsonb_build_object('id', s.id))
)
"""
# Rows locked in term order first (the analysis step updates them in that order too), so the
# two never deadlock.
LOCK_TERMS = """
SELECT term FROM comment_term_df WHERE project_id = $1 AND term = any($2::text[])
ORDER BY term FOR UPDATE
"""
COUNT_DOWN_TERMS = """
UPDATE comment_term_df AS t SET docs = greatest(t.docs - d.n, 0)
FROM unnest($2::text[], $3::bigint[]) AS d(term, n)
WHERE t.project_id = $1 AND t.term = d.term
"""
DROP_UNUSED_TERMS = """
DELETE FROM comment_term_df WHERE project_id = $1 AND term = any($2::text[]) AND term <> ''
  AND docs = 0
"""
# The analysis step's count of analysed comments (cxloop.insights.analysis.DOCS_TERM).
_DOCS_TERM = ""


def _rows(status: str) -> int:
    """asyncpg's command tag ``DELETE 3`` / ``UPDATE 3`` → 3."""
    return int(status.rsplit(" ", 1)[1])


async def purge_subject(
    conn: Connection,
    project_id: str,
    subject: SubjectIds,
    *,
    request_id: str,
    message_ids: list[str],
) -> dict[str, int]:
    """Delete the subject's rows; rows removed (or redacted) per table. Run it inside a
    transaction: the caller commits it with the request's progress."""
    user, anonymous, account = subject.user_id, subject.anonymous_id, subject.account_id
    counts: dict[str, int] = {}
    responses = await conn.fetch(DELETE_RESPONSES, project_id, user, anonymous, account)
    counts["survey_responses"] = len(responses)
    counts["comment_term_df"] = await _count_down_terms(
        conn, project_id, [r["tokens"] for r in responses]
    )
    counts["survey_impressions"] = _rows(
        await conn.execute(DELETE_IMPRESSIONS, project_id, user, anonymous, account)
    )
    counts["alerts"] = _rows(
        await conn.execute(
            DELETE_ALERTS,
            project_id,
            user,
            anonymous,
            account,
            [r["response_id"] for r in responses],
        )
    )
    counts["users"] = _rows(await conn.execute(DELETE_USER, project_id, user)) if user else 0
    counts["memberships"] = _rows(await conn.execute(DELETE_MEMBERSHIPS, project_id, user, account))
    counts["accounts"] = 0
    counts["health_snapshots"] = 0
    if account:
        counts["accounts"] = _rows(await conn.execute(DELETE_ACCOUNT, project_id, account))
        counts["health_snapshots"] = _rows(
            await conn.execute(DELETE_SNAPSHOTS, project_id, account)
        )
    ids = subject.ids
    counts["webhook_deliveries"] = _rows(
        await conn.execute(DELETE_PENDING_DELIVERIES, project_id, ids)
    ) + _rows(await conn.execute(REDACT_SENT_DELIVERIES, project_id, ids, request_id))
    counts["projection_quarantine"] = (
        _rows(await conn.execute(DELETE_QUARANTINE, project_id, message_ids)) if message_ids else 0
    )
    return counts


async def _count_down_terms(
    conn: Connection, project_id: str, token_lists: list[list[str] | None]
) -> int:
    """Take the deleted comments out of the project's term document frequencies."""
    delta: Counter[str] = Counter()
    for tokens in token_lists:
        if tokens is None:  # never analysed: never counted
            continue
        delta[_DOCS_TERM] += 1
        delta.update({term for term in tokens if term})
    if not delta:
        return 0
    terms = sorted(delta)
    await conn.fetch(LOCK_TERMS, project_id, terms)
    await conn.execute(COUNT_DOWN_TERMS, project_id, terms, [delta[t] for t in terms])
    await conn.execute(DROP_UNUSED_TERMS, project_id, terms)
    return len(terms)
