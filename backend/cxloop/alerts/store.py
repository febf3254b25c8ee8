"""Alerts in PostgreSQL: opened by the projection, worked through the API; webhooks for both.

How the projection decides (``OPEN_ALERTS``), for the responses of a batch after their upsert:
- an alert is opened when any event of the response gave a detractor score (``detractor``
  flags, computed per event in Python), or the merged response is one; exactly one per
  (project, response_id): later events and replays update it, never open another;
- the alert mirrors the merged response (score, comment from the completing event, ...);
- when a later event moves the score out of the detractor range, an alert nobody has picked up
  yet (still ``open``) is resolved automatically with a note; one someone acknowledged stays
  theirs. An alert opened for a response that is no longer a detractor is opened resolved, so
  the end state does not depend on the order the events arrive in;
- only projects that exist get alerts (a replay for a deleted project must not wedge).

Why an alert is open is its ``reasons``: ``detractor`` (the score, kept by the projection),
``churn_intent`` and ``competitor`` (the comment, kept by the comment analysis of
cxloop.insights through ``open_comment_alerts``), always in that order. A reason that stops
holding is dropped; an untouched (``open``) alert is resolved automatically once no reason is
left, and an alert cxloop resolved that way is reopened when a new reason appears. An alert a
person resolved stays resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from cxloop.alerts.model import alert_json
from cxloop.db import Connection
from cxloop.webhooks import WebhookEvent, enqueue_many

__all__ = [
    "AlertUpdate",
    "add_note",
    "get_alert",
    "list_alerts",
    "lock_alerts",
    "missing_alerts",
    "open_alerts",
    "open_comment_alerts",
    "update_alert",
]

_decode_fields = msgspec.json.Decoder(dict[str, Any]).decode

# The comment's analysis (cxloop.insights) beside the alert: NULL until analysed, and again while
# a changed comment waits for its new analysis. A scalar subquery, so RETURNING can carry it.
_ANALYSIS = """(
    SELECT json_build_object(
               'sentiment', r.sentiment, 'churn_intent', r.churn_intent,
               'competitors', r.competitors, 'topics', r.topics
           )::text
    FROM survey_responses AS r
    WHERE r.project_id = {alert}.project_id AND r.response_id = {alert}.response_id
      AND r.analysis_version IS NOT NULL
) AS analysis"""
_COLUMNS = """id, status, assignee, response_id, survey_id, kind, score, comment, feature, user_id,
       anonymous_id, account_id, responded_at, opened_at, updated_at, resolved_at,
       notes::text AS notes, reasons"""
_AUTO_NOTE = """jsonb_build_array(jsonb_build_object(
    'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'author', 'cxloop',
    'author_kind', 'system',
    'author_id', NULL,
    'text', {text}
))"""

# $1 project ids, $2 response ids, $3: whether an event of this batch gave a detractor score.
# "previous" reads the alerts as they were before this statement (one snapshot for all CTEs),
# so the webhook can say which fields changed.
_PREVIOUS = """
    SELECT a.project_id, a.response_id,
           json_build_object(
               'survey_id', a.survey_id, 'kind', a.kind, 'score', a.score,
               'comment', a.comment, 'feature', a.feature, 'user_id', a.user_id,
               'anonymous_id', a.anonymous_id, 'account_id', a.account_id,
               'responded_at', a.responded_at, 'status', a.status, 'reasons', a.reasons
           )::text AS fields
    FROM alerts AS a
    JOIN candidates AS c USING (project_id, response_id)
"""
_SCORE_NOTE = """'Resolved automatically: the response''s score is now ' || score
                       || ' (' || cxloop_survey_segment(kind, score) || '), not a detractor score.'"""
_SCORE_REOPENED = """'Reopened automatically: the response''s score is now ' || excluded.score
                       || ' (detractor).'"""
# The alert's reasons once the projection has looked at the score: 'detractor' first while the
# score is one (excluded.status is 'open' exactly then), dropped when it is not.
_WITH_DETRACTOR = """CASE WHEN excluded.status = 'open'
              THEN ARRAY['detractor'] || array_remove(a.reasons, 'detractor')
              ELSE array_remove(a.reasons, 'detractor') END"""

# The reasons after the comment analysis: the score's own kept, the comment's replaced.
_WITH_COMMENT = """(array_remove(array_remove(a.reasons, 'churn_intent'), 'competitor')
                       || array_remove(excluded.reasons, 'detractor'))"""
_COMMENT_RESOLVED = """'Resolved automatically: the comment no longer shows churn intent or names a '
                       || 'competitor, and the score is not a detractor score.'"""
_COMMENT_REOPENED = """'Reopened automatically: the comment shows '
                       || array_to_string(decided.reasons, ', ') || '.'"""

# The event types some active webhook of these projects subscribes to (see _notify).
SUBSCRIBED_TYPES = """
SELECT DISTINCT w.project_id, t.type
FROM webhooks AS w
CROSS JOIN LATERAL unnest(w.events) AS t(type)
WHERE w.active AND w.project_id = any ($1::text[])
"""
OPEN_ALERTS = f"""
WITH batch AS (
    SELECT *
    FROM unnest($1::text[], $2::text[], $3::bool[]) AS b(project_id, response_id, detractor_seen)
),
candidates AS (
    SELECT r.project_id, r.response_id, r.survey_id, r.kind, r.score, r.comment, r.feature,
           r.user_id, r.anonymous_id, r.account_id, r.responded_at,
           coalesce(cxloop_survey_segment(r.kind, r.score) = 'detractor', false) AS detractor_now
    FROM batch AS b
    -- One primary-key lookup per response (OFFSET 0 keeps it so): a hash join read every
    -- response of the table for each batch, a cost that grew with the table.
    CROSS JOIN LATERAL (
        SELECT s.* FROM survey_responses AS s
        WHERE s.project_id = b.project_id AND s.response_id = b.response_id
        OFFSET 0
    ) AS r
    JOIN projects AS p ON p.id = r.project_id
    WHERE r.kind IS NOT NULL AND r.score IS NOT NULL
      AND (b.detractor_seen
           OR cxloop_survey_segment(r.kind, r.score) = 'detractor'
           OR EXISTS (SELECT 1 FROM alerts AS x
                      WHERE x.project_id = r.project_id AND x.response_id = r.response_id))
),
previous AS ({_PREVIOUS}),
written AS (
    INSERT INTO alerts AS a (
        project_id, response_id, survey_id, kind, score, comment, feature, user_id,
        anonymous_id, account_id, responded_at, status, resolved_at, notes, reasons
    )
    SELECT project_id, response_id, survey_id, kind, score, comment, feature, user_id,
           anonymous_id, account_id, responded_at,
           CASE WHEN detractor_now THEN 'open' ELSE 'resolved' END,
           CASE WHEN detractor_now THEN NULL ELSE now() END,
           CASE WHEN detractor_now THEN '[]'::jsonb ELSE {_AUTO_NOTE.format(text=_SCORE_NOTE)} END,
           CASE WHEN detractor_now THEN ARRAY['detractor'] ELSE '{{}}'::text[] END
    FROM candidates
    ORDER BY project_id, response_id
    ON CONFLICT (project_id, response_id) DO UPDATE SET
        survey_id = excluded.survey_id,
        kind = excluded.kind,
        score = excluded.score,
        comment = excluded.comment,
        feature = excluded.feature,
        user_id = excluded.user_id,
        anonymous_id = excluded.anonymous_id,
        account_id = excluded.account_id,
        responded_at = excluded.responded_at,
        (status, resolved_at, notes, reasons) = (
            SELECT CASE WHEN auto_resolve THEN 'resolved' WHEN reopen THEN 'open'
                        ELSE a.status END,
                   CASE WHEN auto_resolve THEN now() WHEN reopen THEN NULL
                        ELSE a.resolved_at END,
                   CASE WHEN auto_resolve THEN a.notes || excluded.notes
                        WHEN reopen THEN a.notes || {_AUTO_NOTE.format(text=_SCORE_REOPENED)}
                        ELSE a.notes END,
                   decided.reasons
            FROM (
                -- resolve: still untouched, was a detractor score, is not one now, no other
                -- reason; reopen: cxloop resolved it for want of a reason, and the score is a
                -- detractor's again (so the end state does not depend on arrival order).
                SELECT a.status = 'open' AND 'detractor' = any(a.reasons)
                       AND excluded.status = 'resolved' AND cardinality(kept.reasons) = 0
                       AS auto_resolve,
                       a.status = 'resolved' AND cardinality(a.reasons) = 0
                       AND excluded.status = 'open' AND a.notes -> -1 ->> 'author' = 'cxloop'
                       AS reopen,
                       kept.reasons
                FROM (SELECT {_WITH_DETRACTOR} AS reasons) AS kept
            ) AS decided
        ),
        updated_at = now()
    WHERE (a.survey_id, a.kind, a.score, a.comment, a.feature, a.user_id, a.anonymous_id,
           a.account_id, a.responded_at, a.reasons)
          IS DISTINCT FROM
          (excluded.survey_id, excluded.kind, excluded.score, excluded.comment, excluded.feature,
           excluded.user_id, excluded.anonymous_id, excluded.account_id, excluded.responded_at,
           {_WITH_DETRACTOR})
    RETURNING a.project_id, a.id, a.status, a.assignee, a.response_id, a.survey_id, a.kind,
              a.score, a.comment, a.feature, a.user_id, a.anonymous_id, a.account_id,
              a.responded_at, a.opened_at, a.updated_at, a.resolved_at, a.notes::text AS notes,
              a.reasons, (a.xmax = 0) AS inserted
)
SELECT w.*, p.fields AS previous, {_ANALYSIS.format(alert="w")}
FROM written AS w
LEFT JOIN previous AS p USING (project_id, response_id)
"""  # noqa: S608 - fixed fragments

SELECT_ALERTS = f"""
SELECT {_COLUMNS}, {_ANALYSIS.format(alert="alerts")}
FROM alerts
WHERE project_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR account_id = $3)
  AND ($4::text IS NULL OR survey_id = $4)
  AND ($5::text IS NULL OR kind = $5)
  AND ($6::text IS NULL OR assignee = $6)
  AND ($7::timestamptz IS NULL OR (opened_at, id) < ($7, $8::bigint))
  AND ($10::text IS NULL OR $10 = any(reasons))
ORDER BY opened_at DESC, id DESC
LIMIT $9
"""  # noqa: S608 - fixed fragments
SELECT_ALERT = f"""
SELECT {_COLUMNS}, {_ANALYSIS.format(alert="alerts")}
FROM alerts
WHERE project_id = $1 AND id = $2
"""  # noqa: S608 - fixed fragments
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1
LOCK_ALERT = "SELECT status, assignee FROM alerts WHERE project_id = $1 AND id = $2 FOR UPDATE"
# resolved_at: set when the alert becomes resolved, kept while it stays so, cleared otherwise.
UPDATE_ALERT = f"""
UPDATE alerts
SET status = $3,
    assignee = $4,
    resolved_at = CASE WHEN $3 <> 'resolved' THEN NULL
                       WHEN status = 'resolved' THEN resolved_at
                       ELSE now() END,
    updated_at = now()
WHERE project_id = $1 AND id = $2
RETURNING {_COLUMNS}, {_ANALYSIS.format(alert="alerts")}
"""  # noqa: S608 - fixed fragments
ADD_NOTE = f"""
UPDATE alerts
SET notes = notes || jsonb_build_array(jsonb_build_object(
        'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'author', $3::text,
        'author_kind', $5::text,
        'author_id', $6::text,
        'text', $4::text
    )),
    updated_at = now()
WHERE project_id = $1 AND id = $2
RETURNING {_COLUMNS}, {_ANALYSIS.format(alert="alerts")}
"""  # noqa: S608 - fixed fragments

# $1 project, $2 response ids, $3/$4: whether each comment shows churn intent / names a
# competitor (as the project's configuration asks to alert on). Responses with either get an
# alert (opened whatever the score); an alert of a response without them loses those reasons.
# The 'detractor' reason stays the projection's.
OPEN_COMMENT_ALERTS = f"""
WITH batch AS (
    SELECT b.response_id,
           array_remove(ARRAY[CASE WHEN b.churn_intent THEN 'churn_intent' END,
                              CASE WHEN b.competitor THEN 'competitor' END], NULL) AS text_reasons
    FROM unnest($2::text[], $3::bool[], $4::bool[]) AS b(response_id, churn_intent, competitor)
),
candidates AS (
    SELECT r.project_id, r.response_id, r.survey_id, r.kind, r.score, r.comment, r.feature,
           r.user_id, r.anonymous_id, r.account_id, r.responded_at, b.text_reasons,
           coalesce(cxloop_survey_segment(r.kind, r.score) = 'detractor', false) AS detractor_now
    FROM batch AS b
    -- One primary-key lookup per comment (OFFSET 0 keeps it so): a hash join would read
    -- every response of the project for each batch.
    CROSS JOIN LATERAL (
        SELECT s.* FROM survey_responses AS s
        WHERE s.project_id = $1 AND s.response_id = b.response_id
        OFFSET 0
    ) AS r
    JOIN projects AS p ON p.id = r.project_id
    WHERE cardinality(b.text_reasons) > 0
       OR EXISTS (SELECT 1 FROM alerts AS x
                  WHERE x.project_id = $1 AND x.response_id = b.response_id)
),
previous AS ({_PREVIOUS}),
written AS (
    INSERT INTO alerts AS a (
        project_id, response_id, survey_id, kind, score, comment, feature, user_id,
        anonymous_id, account_id, responded_at, status, reasons
    )
    SELECT project_id, response_id, survey_id, kind, score, comment, feature, user_id,
           anonymous_id, account_id, responded_at, 'open',
           CASE WHEN detractor_now THEN ARRAY['detractor'] ELSE '{{}}'::text[] END || text_reasons
    FROM candidates
    ORDER BY project_id, response_id
    ON CONFLICT (project_id, response_id) DO UPDATE SET
        (status, resolved_at, notes, reasons, updated_at) = (
            SELECT CASE WHEN resolve THEN 'resolved' WHEN reopen THEN 'open' ELSE a.status END,
                   CASE WHEN resolve THEN now() WHEN reopen THEN NULL ELSE a.resolved_at END,
                   CASE WHEN resolve THEN a.notes || {_AUTO_NOTE.format(text=_COMMENT_RESOLVED)}
                        WHEN reopen THEN a.notes || {_AUTO_NOTE.format(text=_COMMENT_REOPENED)}
                        ELSE a.notes END,
                   decided.reasons,
                   now()
            FROM (
                -- resolve: untouched, and the comment's reasons were the last ones;
                -- reopen: cxloop resolved it for want of a reason, and here is a new one.
                SELECT kept.reasons,
                       a.status = 'open' AND cardinality(a.reasons) > 0
                       AND cardinality(kept.reasons) = 0 AS resolve,
                       a.status = 'resolved' AND cardinality(a.reasons) = 0
                       AND cardinality(kept.reasons) > 0
                       AND a.notes -> -1 ->> 'author' = 'cxloop' AS reopen
                FROM (SELECT {_WITH_COMMENT} AS reasons) AS kept
            ) AS decided
        )
    WHERE a.reasons IS DISTINCT FROM {_WITH_COMMENT}
    RETURNING a.project_id, a.id, a.status, a.assignee, a.response_id, a.survey_id, a.kind,
              a.score, a.comment, a.feature, a.user_id, a.anonymous_id, a.account_id,
              a.responded_at, a.opened_at, a.updated_at, a.resolved_at, a.notes::text AS notes,
              a.reasons, (a.xmax = 0) AS inserted
)
SELECT w.*, p.fields AS previous, {_ANALYSIS.format(alert="w")}
FROM written AS w
LEFT JOIN previous AS p USING (project_id, response_id)
"""  # noqa: S608 - fixed fragments

_PREVIOUS_FIELDS = (
    "survey_id", "kind", "score", "comment", "feature", "user_id", "anonymous_id", "account_id",
    "responded_at", "status", "reasons",
)  # fmt: skip


def _changed(row: asyncpg.Record) -> list[str]:
    """Which fields the projection changed, from the ``previous`` JSON of the alert."""
    if row["previous"] is None:
        return list(_PREVIOUS_FIELDS)
    before = _decode_fields(row["previous"])
    changed = []
    for name in _PREVIOUS_FIELDS:
        if name == "responded_at":
            was = before[name]
            if was is None or datetime.fromisoformat(was) != row[name]:
                changed.append(name)
        elif before[name] != row[name]:
            changed.append(name)
    return changed


async def open_alerts(
    conn: Connection,
    project_ids: Sequence[str],
    response_ids: Sequence[str],
    detractor_seen: Sequence[bool],
) -> int:
    """Open or update the alerts of these (already upserted) responses; queue their webhooks.

    Run it in the projection's transaction, after the survey_responses upsert. Returns the
    number of alerts opened or changed (0 on a replay).
    """
    rows = await conn.fetch(OPEN_ALERTS, project_ids, response_ids, detractor_seen)
    await _notify(conn, rows)
    return len(rows)


async def open_comment_alerts(
    conn: Connection,
    project_id: str,
    response_ids: Sequence[str],
    *,
    churn_intent: Sequence[bool],
    competitor: Sequence[bool],
) -> int:
    """Open, update or close the alerts of these responses for what their comments say (churn
    intent, a competitor named), whatever the score; queue their webhooks.

    Run it in the comment analysis's transaction, after the analysis is written (the alerts
    carry it). Returns the number of alerts opened or changed.
    """
    rows = await conn.fetch(
        OPEN_COMMENT_ALERTS, project_id, list(response_ids), list(churn_intent), list(competitor)
    )
    await _notify(conn, rows)
    return len(rows)


async def _notify(conn: Connection, rows: Sequence[asyncpg.Record]) -> None:
    """``alert.opened`` for the inserted rows, ``alert.updated`` (with what changed) else.

    Payloads are built only for a (project, type) some active webhook subscribes to: the
    queue would drop the others anyway, and most projects subscribe to neither."""
    if not rows:
        return
    projects = sorted({row["project_id"] for row in rows})
    subscribed = {
        (record["project_id"], record["type"])
        for record in await conn.fetch(SUBSCRIBED_TYPES, projects)
    }
    if not subscribed:
        return
    events = []
    for row in rows:
        project_id = row["project_id"]
        if row["inserted"]:
            if (project_id, "alert.opened") in subscribed:
                events.append(
                    WebhookEvent(
                        project_id=project_id,
                        type="alert.opened",
                        data={"alert": alert_json(row)},
                    )
                )
        elif (project_id, "alert.updated") in subscribed:
            data = {"alert": alert_json(row), "changed": _changed(row)}
            events.append(WebhookEvent(project_id=project_id, type="alert.updated", data=data))
    await enqueue_many(conn, events)


async def list_alerts(
    conn: Connection,
    project_id: str,
    *,
    status: str | None = None,
    account_id: str | None = None,
    survey_id: str | None = None,
    kind: str | None = None,
    assignee: str | None = None,
    reason: str | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int = 100,
) -> list[asyncpg.Record]:
    """Alerts newest first (by when they were opened), after the keyset ``after``."""
    after_time, after_id = after if after is not None else (None, None)
    return await conn.fetch(
        SELECT_ALERTS,
        project_id,
        status,
        account_id,
        survey_id,
        kind,
        assignee,
        after_time,
        after_id,
        limit,
        reason,
    )


async def get_alert(conn: Connection, project_id: str, alert_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ALERT, project_id, alert_id)


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """What :func:`update_alert` did: the alert as it is now, and each changed field's
    ``{"from": before, "to": after}`` (empty when nothing changed)."""

    row: asyncpg.Record
    changes: dict[str, dict[str, str | None]]


async def update_alert(
    conn: Connection,
    project_id: str,
    alert_id: int,
    *,
    status: str | None,
    assignee: str | msgspec.UnsetType | None,
) -> AlertUpdate | None:
    """Change status and/or assignee (``UNSET`` keeps it); ``alert.updated`` when it changed.

    None when there is no such alert. Runs in a transaction of its own (or the caller's).
    """
    async with conn.transaction():
        current = await conn.fetchrow(LOCK_ALERT, project_id, alert_id)
        if current is None:
            return None
        new_status = current["status"] if status is None else status
        new_assignee = current["assignee"] if assignee is msgspec.UNSET else assignee
        changes = {
            name: {"from": before, "to": after}
            for name, before, after in (
                ("status", current["status"], new_status),
                ("assignee", current["assignee"], new_assignee),
            )
            if before != after
        }
        if not changes:
            row = await conn.fetchrow(SELECT_ALERT, project_id, alert_id)
            assert row is not None  # locked above
            return AlertUpdate(row, changes)
        row = await conn.fetchrow(UPDATE_ALERT, project_id, alert_id, new_status, new_assignee)
        assert row is not None
        await _updated(conn, project_id, row, list(changes))
        return AlertUpdate(row, changes)


async def missing_alerts(conn: Connection, project_id: str, alert_ids: Sequence[int]) -> list[int]:
    """Which of ``alert_ids`` are not alerts of the project, in the order given."""
    present = {
        row["id"]
        for row in await conn.fetch(
            "SELECT id FROM alerts WHERE project_id = $1 AND id = any($2::bigint[])",
            project_id,
            [i for i in alert_ids if _MIN_ID <= i <= _MAX_ID],
        )
    }
    return [i for i in alert_ids if i not in present]


async def lock_alerts(conn: Connection, project_id: str, alert_ids: Sequence[int]) -> None:
    """Lock the alerts in id order (inside the caller's transaction), so two bulk changes of
    overlapping sets wait for each other instead of deadlocking."""
    await conn.execute(
        "SELECT 1 FROM alerts WHERE project_id = $1 AND id = any($2::bigint[]) "
        "ORDER BY id FOR UPDATE",
        project_id,
        list(alert_ids),
    )


async def add_note(
    conn: Connection,
    project_id: str,
    alert_id: int,
    author: str,
    text: str,
    *,
    author_kind: str,
    author_id: str | None = None,
) -> asyncpg.Record | None:
    """Append ``{at, author, author_kind, author_id, text}`` to the alert's notes; None when
    there is no such alert. ``author_kind`` is the credential's (``member``, ``token``,
    ``secret_key``, ``cli``); ``author_id`` the console user behind it, if any."""
    async with conn.transaction():
        row = await conn.fetchrow(
            ADD_NOTE, project_id, alert_id, author, text, author_kind, author_id
        )
        if row is not None:
            await _updated(conn, project_id, row, ["notes"])
        return row


async def _updated(
    conn: Connection, project_id: str, row: asyncpg.Record, changed: list[str]
) -> None:
    data = {"alert": alert_json(row), "changed": changed}
    await enqueue_many(conn, [WebhookEvent(project_id=project_id, type="alert.updated", data=data)])
