"""The projector's statements: one bulk upsert per table, fed by COPY into staging tables
(users, accounts, memberships: one row per key) or by ``unnest`` of parallel arrays.

Merge rules (the same whatever order events arrive in, and a replay changes nothing):
- seen times: earliest and latest event time (``least`` / ``greatest``);
- traits: per key, the value from the event with the latest timestamp; the rule lives in the
  SQL functions ``cxloop_merge_traits`` / ``cxloop_traits_change`` (migration 0001) and the
  in-batch ``DISTINCT ON`` below, which orders candidates exactly like them;
- survey responses: the event ranked highest by (completed, timestamp, message_id) supplies
  the row; each field comes from the highest-ranked event that has it (the comment arrives
  with the completion), whose rank the row keeps per field (field_ranks, migration 0011).

Every upsert ends with a ``WHERE`` that skips rows the batch would not change, so a replay
writes nothing and the returned row count is the number of rows that really changed. Rows are
inserted in key order so concurrent projectors lock rows in the same order (no deadlocks).
"""

from __future__ import annotations

from cxloop.projection.prepare import RESPONSE_FIELDS

__all__ = [
    "ATTRIBUTE_RESPONSES",
    "INSERT_IMPRESSIONS",
    "QUARANTINE",
    "STAGE",
    "STAGE_ACCOUNTS",
    "STAGE_ACCOUNT_TRAITS",
    "STAGE_IMPRESSIONS",
    "STAGE_MEMBERSHIPS",
    "STAGE_RESPONSES",
    "STAGE_USERS",
    "STAGE_USER_TRAITS",
    "UPSERT_ACCOUNTS",
    "UPSERT_MEMBERSHIPS",
    "UPSERT_RESPONSES",
    "UPSERT_USERS",
]

# Users, accounts and memberships arrive by COPY into these session-local staging tables (one
# row per key, collapsed by Arrow in projection/prepare.py), then one INSERT ... SELECT each.
# Times are microseconds since the epoch, turned into timestamptz here (exactly: an interval
# holds microseconds). The tables live as long as the connection and are emptied at every
# commit; STAGE also empties them, because a batch split by the quarantine path stages again
# in the same transaction. Created in a savepoint that rolls back, they are created again.
STAGE = """
CREATE TEMP TABLE IF NOT EXISTS cxloop_stage_users (
    project_id text, entity_id text, first_us bigint, last_us bigint, marked_us bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS cxloop_stage_user_traits (
    project_id text, entity_id text, traits text, at bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS cxloop_stage_accounts (LIKE cxloop_stage_users)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS cxloop_stage_account_traits (LIKE cxloop_stage_user_traits)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS cxloop_stage_memberships (
    project_id text, user_id text, account_id text,
    first_us bigint, last_us bigint, marked_us bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS cxloop_stage_responses (
    project_id text, response_id text, survey_id text, kind text, score float8, comment text,
    feature text, user_id text, anonymous_id text, account_id text, partial bool,
    message_id text, responded_us bigint, updated_us bigint, locale text, page_path text,
    field_ranks text[]
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS cxloop_stage_impressions (
    project_id text, message_id text, event text, survey_id text, kind text, feature text,
    user_id text, anonymous_id text, account_id text, locale text, page_path text,
    detail text, occurred_us bigint
) ON COMMIT DELETE ROWS;
DELETE FROM cxloop_stage_users;
DELETE FROM cxloop_stage_user_traits;
DELETE FROM cxloop_stage_accounts;
DELETE FROM cxloop_stage_account_traits;
DELETE FROM cxloop_stage_memberships;
DELETE FROM cxloop_stage_responses;
DELETE FROM cxloop_stage_impressions;
"""

STAGE_USERS = "cxloop_stage_users"
STAGE_USER_TRAITS = "cxloop_stage_user_traits"
STAGE_ACCOUNTS = "cxloop_stage_accounts"
STAGE_ACCOUNT_TRAITS = "cxloop_stage_account_traits"
STAGE_MEMBERSHIPS = "cxloop_stage_memberships"
STAGE_RESPONSES = "cxloop_stage_responses"
STAGE_IMPRESSIONS = "cxloop_stage_impressions"


def _ts(micros: str) -> str:
    return f"(timestamptz 'epoch' + {micros} * interval '1 microsecond')"


def _upsert_seen(table: str, key: str, alias: str, stage: str, traits_stage: str) -> str:
    """users / accounts: rows seen (first/last seen, latest event that set traits), and the
    traits of every event that set some, merged per key by the latest event time."""
    return f"""
WITH incoming_traits AS (
    SELECT project_id, entity_id,
           jsonb_object_agg(key, value) AS traits,
           jsonb_object_agg(key, at) AS trait_timestamps
    FROM (
        SELECT DISTINCT ON (t.project_id, t.entity_id, kv.key)
               t.project_id, t.entity_id, kv.key, kv.value, to_jsonb(t.at) AS at
        FROM {traits_stage} AS t
        CROSS JOIN LATERAL jsonb_each(t.traits::jsonb) AS kv
        ORDER BY t.project_id, t.entity_id, kv.key, t.at DESC, kv.value DESC
    ) AS winners
    GROUP BY project_id, entity_id
)
INSERT INTO {table} AS {alias} (
    project_id, {key}, traits, trait_timestamps, traits_updated_at, first_seen_at, last_seen_at
)
SELECT s.project_id, s.entity_id,
       coalesce(t.traits, '{{}}'), coalesce(t.trait_timestamps, '{{}}'),
       {_ts("s.marked_us")}, {_ts("s.first_us")}, {_ts("s.last_us")}
FROM {stage} AS s
LEFT JOIN incoming_traits AS t USING (project_id, entity_id)
ORDER BY s.project_id, s.entity_id
ON CONFLICT (project_id, {key}) DO UPDATE SET
    -- Most rows a batch touches only moved in time: the merge runs only for rows it brought
    -- traits for (it was half of the statement's time when it ran for every row).
    (traits, trait_timestamps) = (
        SELECT merged.traits, merged.trait_timestamps
        FROM cxloop_merge_traits(
            {alias}.traits, {alias}.trait_timestamps, excluded.traits, excluded.trait_timestamps
        ) AS merged
        WHERE excluded.traits <> '{{}}'
        UNION ALL
        SELECT {alias}.traits, {alias}.trait_timestamps WHERE excluded.traits = '{{}}'
    ),
    traits_updated_at = greatest({alias}.traits_updated_at, excluded.traits_updated_at),
    first_seen_at = least({alias}.first_seen_at, excluded.first_seen_at),
    last_seen_at = greatest({alias}.last_seen_at, excluded.last_seen_at)
WHERE excluded.first_seen_at < {alias}.first_seen_at
   OR excluded.last_seen_at > {alias}.last_seen_at
   OR cxloop_traits_change(
       {alias}.traits, {alias}.trait_timestamps, excluded.traits, excluded.trait_timestamps
   )
"""  # noqa: S608 - fixed names


UPSERT_USERS = _upsert_seen("users", "user_id", "u", STAGE_USERS, STAGE_USER_TRAITS)
UPSERT_ACCOUNTS = _upsert_seen("accounts", "account_id", "a", STAGE_ACCOUNTS, STAGE_ACCOUNT_TRAITS)

UPSERT_MEMBERSHIPS = f"""
INSERT INTO memberships AS m (
    project_id, user_id, account_id, first_seen_at, last_seen_at, last_group_call_at
)
SELECT project_id, user_id, account_id,
       {_ts("first_us")}, {_ts("last_us")}, {_ts("marked_us")}
FROM {STAGE_MEMBERSHIPS}
ORDER BY project_id, user_id, account_id
ON CONFLICT (project_id, user_id, account_id) DO UPDATE SET
    first_seen_at = least(m.first_seen_at, excluded.first_seen_at),
    last_seen_at = greatest(m.last_seen_at, excluded.last_seen_at),
    last_group_call_at = greatest(m.last_group_call_at, excluded.last_group_call_at)
WHERE excluded.first_seen_at < m.first_seen_at
   OR excluded.last_seen_at > m.last_seen_at
   OR m.last_group_call_at IS DISTINCT FROM
      greatest(m.last_group_call_at, excluded.last_group_call_at)
"""  # noqa: S608 - fixed names

# The current account of the user i.user_id in project i.project_id (the view's rule, migration
# 0001), for ATTRIBUTE_RESPONSES's LATERAL join. OFFSET 0 keeps PostgreSQL from flattening the
# view into a join over all of it: the conditions go inside, and it reads that one user's
# memberships_current_idx range.
_CURRENT_ACCOUNT = """
    SELECT c.account_id FROM user_current_accounts AS c
    WHERE c.project_id = i.project_id AND c.user_id = i.user_id
    OFFSET 0
"""


def _with_survey_context(stage: str) -> str:
    """A WITH clause giving ``staged``: the rows of ``stage`` with what a survey event is about
    and who gave it, looked up when it is projected: ``ctx_feature`` (the event's, else the
    survey definition's, else its trigger event), ``ctx_account_id`` (the event's, else the
    user's current account: the rule of the view user_current_accounts, migration 0001), the
    account's plan trait and latest health band, and the user's traits listed in
    insights_config.config->'user_traits' (NULL when none is configured).

    Set-based: each user's and account's context is looked up once per batch and joined
    (per-row LATERAL lookups were a third of the projection's database time)."""
    return f"""
WITH batch_users AS (
    SELECT DISTINCT project_id, user_id FROM {stage} WHERE user_id IS NOT NULL
),
current_accounts AS (
    SELECT DISTINCT ON (m.project_id, m.user_id) m.project_id, m.user_id, m.account_id
    FROM batch_users AS b
    JOIN memberships AS m ON m.project_id = b.project_id AND m.user_id = b.user_id
    WHERE m.last_group_call_at IS NOT NULL
    ORDER BY m.project_id, m.user_id, m.last_group_call_at DESC, m.account_id
),
key_user_traits AS (
    SELECT u.project_id, u.user_id, jsonb_object_agg(k.key, u.traits -> k.key) AS user_traits
    FROM batch_users AS b
    JOIN insights_config AS c ON c.project_id = b.project_id
    JOIN users AS u ON u.project_id = b.project_id AND u.user_id = b.user_id
    CROSS JOIN LATERAL jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(c.config -> 'user_traits') = 'array'
             THEN c.config -> 'user_traits' END) AS k(key)
    WHERE u.traits ? k.key
    GROUP BY u.project_id, u.user_id
),
attributed AS (
    SELECT i.*, coalesce(i.account_id, cur.account_id) AS ctx_account_id,
           coalesce(i.feature, s.definition ->> 'feature',
                    s.definition -> 'trigger' ->> 'event') AS ctx_feature
    FROM {stage} AS i
    LEFT JOIN current_accounts AS cur ON cur.project_id = i.project_id AND cur.user_id = i.user_id
    LEFT JOIN surveys AS s ON s.project_id = i.project_id AND s.id = i.survey_id
),
batch_accounts AS (
    SELECT DISTINCT project_id, ctx_account_id AS account_id
    FROM attributed WHERE ctx_account_id IS NOT NULL
),
account_context AS (
    SELECT b.project_id, b.account_id, a.plan,
           (SELECT h.band FROM health_snapshots AS h
            WHERE h.project_id = b.project_id AND h.account_id = b.account_id
            ORDER BY h.day DESC LIMIT 1) AS band
    FROM batch_accounts AS b
    LEFT JOIN accounts AS a ON a.project_id = b.project_id AND a.account_id = b.account_id
),
staged AS (
    SELECT i.*, ac.plan AS ctx_plan, ac.band AS ctx_band, t.user_traits AS ctx_user_traits
    FROM attributed AS i
    LEFT JOIN account_context AS ac
           ON ac.project_id = i.project_id AND ac.account_id = i.ctx_account_id
    LEFT JOIN key_user_traits AS t ON t.project_id = i.project_id AND t.user_id = i.user_id
)
"""  # noqa: S608 - fixed names


# The ranks of a stored (r) and an incoming (excluded) response row, and of one field's value
# in each (migration 0011: text ordered like the rank under COLLATE "C").
_STORED_RANK = "cxloop_response_rank(r.partial, r.updated_at, r.message_id)"
_INCOMING_RANK = "cxloop_response_rank(excluded.partial, excluded.updated_at, excluded.message_id)"
_NO_FIELD_RANKS = f"array_fill(NULL::text, ARRAY[{len(RESPONSE_FIELDS)}])"


def _field_rank(row: str, name: str, row_rank: str) -> str:
    field = RESPONSE_FIELDS.index(name) + 1
    return f"cxloop_field_rank({row}.{name} IS NOT NULL, {row}.field_ranks, {field}, {row_rank})"


def _looked_up_ranks(row: str, looked_up: dict[str, str]) -> str:
    """``row``'s field_ranks with '' (below every event) for each field whose condition in
    ``looked_up`` holds: a value looked up when projected, not sent by an event."""
    elements = [
        f"CASE WHEN {looked_up[name]} THEN '' ELSE {row}.field_ranks[{field}] END"
        if name in looked_up
        else f"{row}.field_ranks[{field}]"
        for field, name in enumerate(RESPONSE_FIELDS, start=1)
    ]
    return f"nullif(ARRAY[{', '.join(elements)}]::text[], {_NO_FIELD_RANKS})"


# A staged row's field_ranks, with the feature and account it did not send but the projection
# looked up (_with_survey_context) ranked below every event.
_INSERTED_FIELD_RANKS = _looked_up_ranks(
    "i",
    {
        "feature": "i.feature IS NULL AND i.ctx_feature IS NOT NULL",
        "account_id": "i.account_id IS NULL AND i.ctx_account_id IS NOT NULL",
    },
)
_INCOMING_FIELD_WINS = {
    name: f"cxloop_outranks(f.incoming_{name}, f.stored_{name})" for name in RESPONSE_FIELDS
}
_FIELD_RANKS = ",\n                   ".join(
    f"{_field_rank('r', name, 'stored_rank')} AS stored_{name}, "
    f"{_field_rank('excluded', name, 'incoming_rank')} AS incoming_{name}"
    for name in RESPONSE_FIELDS
)
_MERGED_FIELDS = ",\n            ".join(
    f"CASE WHEN {_INCOMING_FIELD_WINS[name]} THEN excluded.{name} ELSE r.{name} END"
    for name in RESPONSE_FIELDS
)
# Stored as NULL where it is the merged row's own rank, the whole array NULL when all are.
_MERGED_FIELD_RANKS = "nullif(ARRAY[{}]::text[], {})".format(
    ", ".join(
        f"nullif(CASE WHEN {_INCOMING_FIELD_WINS[name]} THEN f.incoming_{name} "
        f"ELSE f.stored_{name} END, f.merged_rank)"
        for name in RESPONSE_FIELDS
    ),
    _NO_FIELD_RANKS,
)
_ANY_FIELD_WINS = "\n   OR ".join(
    f"cxloop_outranks({_field_rank('excluded', name, _INCOMING_RANK)}, "
    f"{_field_rank('r', name, _STORED_RANK)})"
    for name in RESPONSE_FIELDS
)

# One row per response already collapsed in Python with the same rule (merge_responses): each
# field comes from the highest-ranked event that has it, whatever the order and batches
# events arrive in, because every field keeps the rank of the event that supplied it
# (field_ranks). A response without context.groupId is attributed like usage
# (health/rollup.py): to the user's current account as known when it is projected
# (_with_survey_context); ATTRIBUTE_RESPONSES fills it in when the user's first group call is
# projected later. Looked-up values (that account, the survey definition's feature) rank below
# every event, so an event that sends one replaces them in any order. The row's own rank is
# (completed, updated_at, message_id); COLLATE "C" makes the message_id order the code point
# order Python uses, whatever the database's collation. plan, band and user_traits are those of
# the first projection (a later plan change does not move an old answer); a changed comment
# makes the comment pending for analysis again (analysis_version).
UPSERT_RESPONSES = f"""{_with_survey_context(STAGE_RESPONSES)}
INSERT INTO survey_responses AS r (
    project_id, response_id, survey_id, kind, score, comment, feature,
    user_id, anonymous_id, account_id, partial, message_id, responded_at, updated_at,
    locale, page_path, plan, band, user_traits, field_ranks
)
SELECT i.project_id, i.response_id, i.survey_id, i.kind, i.score, i.comment, i.ctx_feature,
       i.user_id, i.anonymous_id, i.ctx_account_id,
       i.partial, i.message_id, {_ts("i.responded_us")}, {_ts("i.updated_us")},
       i.locale, i.page_path, i.ctx_plan, i.ctx_band, i.ctx_user_traits,
       {_INSERTED_FIELD_RANKS}
FROM staged AS i
ORDER BY i.project_id, i.response_id
ON CONFLICT (project_id, response_id) DO UPDATE SET
    ({", ".join(RESPONSE_FIELDS)},
     field_ranks, partial, message_id, updated_at, analysis_version) = (
        SELECT
            {_MERGED_FIELDS},
            {_MERGED_FIELD_RANKS},
            r.partial AND excluded.partial,
            CASE WHEN f.incoming_wins THEN excluded.message_id ELSE r.message_id END,
            CASE WHEN f.incoming_wins THEN excluded.updated_at ELSE r.updated_at END,
            CASE WHEN {_INCOMING_FIELD_WINS["comment"]}
                      AND excluded.comment IS DISTINCT FROM r.comment THEN NULL
                 ELSE r.analysis_version END
        FROM (
            SELECT incoming_rank COLLATE "C" > stored_rank COLLATE "C" AS incoming_wins,
                   greatest(incoming_rank COLLATE "C", stored_rank COLLATE "C") AS merged_rank,
                   {_FIELD_RANKS}
            FROM (SELECT {_STORED_RANK} AS stored_rank,
                         {_INCOMING_RANK} AS incoming_rank) AS row_rank
        ) AS f
    ),
    responded_at = least(r.responded_at, excluded.responded_at),
    plan = coalesce(r.plan, excluded.plan),
    band = coalesce(r.band, excluded.band),
    user_traits = coalesce(r.user_traits, excluded.user_traits)
WHERE {_INCOMING_RANK} COLLATE "C" > {_STORED_RANK} COLLATE "C"
   OR excluded.responded_at < r.responded_at
   OR {_ANY_FIELD_WINS}
   OR (r.plan, r.band, r.user_traits)
      IS DISTINCT FROM
      (coalesce(r.plan, excluded.plan), coalesce(r.band, excluded.band),
       coalesce(r.user_traits, excluded.user_traits))
"""  # noqa: S608 - fixed fragments

# One row per Survey Shown / Survey Dismissed event: the same context and account rule as
# responses; an event is recorded once (a replay inserts nothing).
INSERT_IMPRESSIONS = f"""{_with_survey_context(STAGE_IMPRESSIONS)}
INSERT INTO survey_impressions (
    project_id, message_id, event, survey_id, kind, feature, user_id, anonymous_id,
    account_id, locale, page_path, plan, band, user_traits, detail, occurred_at
)
SELECT i.project_id, i.message_id, i.event, i.survey_id, i.kind, i.ctx_feature, i.user_id,
       i.anonymous_id, i.ctx_account_id, i.locale, i.page_path, i.ctx_plan, i.ctx_band,
       i.ctx_user_traits, i.detail, {_ts("i.occurred_us")}
FROM staged AS i
ORDER BY i.project_id, i.message_id
ON CONFLICT (project_id, message_id) DO NOTHING
"""  # noqa: S608 - fixed fragments

# $1, $2: (project, user) of every group call in the batch, run after UPSERT_MEMBERSHIPS.
# Responses (and their alerts) that had no account yet get the user's current account, so a
# rating projected before the user's first group call counts for that account like one after
# it, with that account's plan and band. A response that already has an account never moves.
ATTRIBUTE_RESPONSES = f"""
WITH attributed AS (
    UPDATE survey_responses AS r
    SET account_id = cur.account_id,
        plan = coalesce(r.plan, (SELECT a.plan FROM accounts AS a
                                 WHERE a.project_id = r.project_id
                                   AND a.account_id = cur.account_id)),
        band = coalesce(r.band, (SELECT h.band FROM health_snapshots AS h
                                 WHERE h.project_id = r.project_id
                                   AND h.account_id = cur.account_id
                                 ORDER BY h.day DESC LIMIT 1)),
        field_ranks = {_looked_up_ranks("r", {"account_id": "true"})}
    FROM unnest($1::text[], $2::text[]) AS i(project_id, user_id)
    CROSS JOIN LATERAL ({_CURRENT_ACCOUNT}) AS cur
    WHERE r.project_id = i.project_id AND r.user_id = i.user_id AND r.account_id IS NULL
    RETURNING r.project_id, r.response_id, r.account_id
)
UPDATE alerts AS a
SET account_id = attributed.account_id, updated_at = now()
FROM attributed
WHERE a.project_id = attributed.project_id AND a.response_id = attributed.response_id
  AND a.account_id IS NULL
"""  # noqa: S608 - a fixed fragment

# One event the database refused (projection/projector.py isolates it); the event stays in
# the lake. A replay of the segment records the same row again.
QUARANTINE = """
INSERT INTO projection_quarantine (project_id, message_id, reason, detail)
VALUES ($1, $2, $3, $4)
ON CONFLICT (project_id, message_id) DO UPDATE SET
    reason = excluded.reason, detail = excluded.detail, quarantined_at = now()
"""
