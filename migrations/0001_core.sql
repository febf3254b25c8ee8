-- 0001_core: projects and keys, and the projections of the event stream (users, accounts,
-- memberships, survey responses).
--
-- Projected tables are derived from the write-ahead log and can be rebuilt by replaying it, so
-- every column there is a function of the events alone (event time, never now()): projecting
-- the same events twice, or in another order, leaves the same rows. They carry no foreign key
-- to projects on purpose: a replay that meets a deleted project must not wedge the projector.

CREATE TABLE projects (
    id                text PRIMARY KEY,                 -- prj_<16 hex chars>
    name              text NOT NULL,
    write_key         text NOT NULL UNIQUE,             -- public: goes into the snippet
    -- sha256 hex of the secret key. Secret keys are 32 random bytes (256 bits), so they cannot
    -- be guessed and a slow password hash (bcrypt, argon2) would add nothing but latency; a
    -- fast hash also lets each read API request find its project by an index lookup.
    secret_key_hash   text NOT NULL UNIQUE,
    secret_key_prefix text NOT NULL,                    -- first characters, for display only
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Traits are merged key by key: each key keeps the value from the event with the latest
-- timestamp (ties broken by the larger jsonb value; a key without a timestamp loses), so the
-- result does not depend on the order events arrive in. trait_timestamps holds that winning timestamp per key, in microseconds
-- since the Unix epoch: {"plan": 1718000000000000, ...}.
CREATE FUNCTION cxloop_merge_traits(
    stored jsonb, stored_at jsonb, incoming jsonb, incoming_at jsonb,
    OUT traits jsonb, OUT trait_timestamps jsonb
) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb),
           coalesce(jsonb_object_agg(key, at), '{}'::jsonb)
    FROM (
        SELECT DISTINCT ON (key) key, value, at
        FROM (
            SELECT key, value, coalesce(stored_at -> key, 'null') AS at FROM jsonb_each(stored)
            UNION ALL
            SELECT key, value, coalesce(incoming_at -> key, 'null') FROM jsonb_each(incoming)
        ) AS candidates
        ORDER BY key, at DESC, value DESC
    ) AS winners
$$;

-- True when cxloop_merge_traits(stored..., incoming...) would differ from stored; lets an
-- upsert skip rows a replay does not change (no dead tuples, no WAL traffic).
CREATE FUNCTION cxloop_traits_change(
    stored jsonb, stored_at jsonb, incoming jsonb, incoming_at jsonb
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1
        FROM jsonb_each(incoming) AS i
        WHERE NOT stored ? i.key
           OR (coalesce(incoming_at -> i.key, 'null'), i.value)
              > (coalesce(stored_at -> i.key, 'null'), stored -> i.key)
    )
$$;

-- A trait as a number: JSON numbers, and strings holding a plain decimal ("12", "99.5").
CREATE FUNCTION cxloop_trait_numeric(value jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(value)
        WHEN 'number' THEN value::numeric
        WHEN 'string' THEN CASE
            WHEN value #>> '{}' ~ '^\s*[+-]?[0-9]{1,30}(\.[0-9]{1,30})?\s*$'
            THEN (value #>> '{}')::numeric
        END
    END
$$;

-- A trait as a date: strings starting with an ISO date ("2025-03-31", "2025-03-31T00:00:00Z").
-- Anything else, including impossible dates, is NULL rather than an error that would fail the
-- whole projection batch.
CREATE FUNCTION cxloop_trait_date(value jsonb) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN parts IS NOT NULL
                 AND parts[1]::int >= 1
                 AND parts[2]::int BETWEEN 1 AND 12 THEN
        CASE WHEN parts[3]::int BETWEEN 1 AND extract(day FROM
                  make_date(parts[1]::int, parts[2]::int, 1) + interval '1 month - 1 day')::int
             THEN make_date(parts[1]::int, parts[2]::int, parts[3]::int)
        END
    END
    FROM (SELECT regexp_match(value #>> '{}', '^\s*([0-9]{4})-([0-9]{2})-([0-9]{2})') AS parts
          WHERE jsonb_typeof(value) = 'string') AS matched
$$;

CREATE TABLE users (
    project_id        text NOT NULL,
    user_id           text NOT NULL,
    traits            jsonb NOT NULL DEFAULT '{}',      -- from identify calls, merged per key
    trait_timestamps  jsonb NOT NULL DEFAULT '{}',
    traits_updated_at timestamptz,                      -- latest identify that set a trait
    first_seen_at     timestamptz NOT NULL,             -- any event with this user_id
    last_seen_at      timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE accounts (
    project_id        text NOT NULL,
    account_id        text NOT NULL,                    -- the groupId
    traits            jsonb NOT NULL DEFAULT '{}',      -- from group calls, merged per key
    trait_timestamps  jsonb NOT NULL DEFAULT '{}',
    traits_updated_at timestamptz,
    -- The traits health scoring reads, typed; NULL when absent or not understandable.
    name              text GENERATED ALWAYS AS (traits ->> 'name') STORED,
    plan              text GENERATED ALWAYS AS (traits ->> 'plan') STORED,
    seats             integer GENERATED ALWAYS AS (
        CASE WHEN cxloop_trait_numeric(traits -> 'seats') BETWEEN 0 AND 2147483647
             THEN round(cxloop_trait_numeric(traits -> 'seats'))::integer
        END) STORED,
    mrr               numeric GENERATED ALWAYS AS (cxloop_trait_numeric(traits -> 'mrr')) STORED,
    renewal_date      date GENERATED ALWAYS AS (cxloop_trait_date(traits -> 'renewal_date')) STORED,
    status            text GENERATED ALWAYS AS (traits ->> 'status') STORED,
    -- Event time of the first and latest event naming the account (group call or
    -- context.groupId); these stand in for created_at/updated_at and stay replay-stable.
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    PRIMARY KEY (project_id, account_id)
);

CREATE INDEX accounts_project_status_idx ON accounts (project_id, status);
CREATE INDEX accounts_project_renewal_idx ON accounts (project_id, renewal_date)
    WHERE renewal_date IS NOT NULL;

CREATE TABLE memberships (
    project_id        text NOT NULL,
    user_id           text NOT NULL,
    account_id        text NOT NULL,
    first_seen_at     timestamptz NOT NULL,             -- group calls and context.groupId events
    last_seen_at      timestamptz NOT NULL,
    -- Timestamp of the latest group call joining the user to this account (NULL when only seen
    -- through context.groupId); the membership with the latest one is the user's current account.
    last_group_call_at timestamptz,
    PRIMARY KEY (project_id, user_id, account_id)
);

CREATE INDEX memberships_account_idx ON memberships (project_id, account_id);
CREATE INDEX memberships_current_idx ON memberships (project_id, user_id, last_group_call_at DESC)
    WHERE last_group_call_at IS NOT NULL;

-- A user's current account: the one named by their latest group call (ties: smallest id).
CREATE VIEW user_current_accounts AS
SELECT DISTINCT ON (project_id, user_id) project_id, user_id, account_id, last_group_call_at
FROM memberships
WHERE last_group_call_at IS NOT NULL
ORDER BY project_id, user_id, last_group_call_at DESC, account_id;

CREATE TABLE survey_responses (
    project_id        text NOT NULL,
    response_id       text NOT NULL,
    survey_id         text,
    kind              text CHECK (kind IN ('nps', 'csat', 'ces', 'thumbs', 'emoji')),
    score             double precision,
    comment           text,
    feature           text,
    user_id           text,
    anonymous_id      text,
    account_id        text,                             -- the event's context.groupId
    -- True while only partial events were seen; the completing event (partial=false) wins
    -- over partial ones whatever the arrival order, then the later timestamp, then message_id.
    partial           boolean NOT NULL,
    message_id        text NOT NULL,                    -- of the event that supplied the row
    responded_at      timestamptz NOT NULL,             -- earliest event of the response
    updated_at        timestamptz NOT NULL,             -- event time of message_id's event
    PRIMARY KEY (project_id, response_id)
);

CREATE INDEX survey_responses_time_idx ON survey_responses (project_id, responded_at DESC);
CREATE INDEX survey_responses_survey_idx ON survey_responses (project_id, survey_id, responded_at);
CREATE INDEX survey_responses_account_idx ON survey_responses (project_id, account_id, responded_at)
    WHERE account_id IS NOT NULL;
CREATE INDEX survey_responses_user_idx ON survey_responses (project_id, user_id)
    WHERE user_id IS NOT NULL;
