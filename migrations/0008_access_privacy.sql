-- 0008_access_privacy: people who sign in (console users), their roles per project, sessions,
-- personal API tokens, retired keys in their grace period, the audit log; data-subject privacy
-- (deletion requests, suppression of deleted subjects, retention).
--
-- "users" (0001) are the vendor's end users, projected from events; "console_users" are the
-- vendor's own team, who sign in. They never mix.

CREATE TABLE console_users (
    id                  text PRIMARY KEY,                   -- usr_<16 hex>
    email               text NOT NULL,                      -- as typed at creation
    email_key           text NOT NULL UNIQUE,               -- NFKC + casefold: the login name
    name                text NOT NULL DEFAULT '',
    password_hash       text,                               -- argon2id PHC string; NULL until set
    failed_logins       integer NOT NULL DEFAULT 0,         -- consecutive, reset on success
    locked_until        timestamptz,
    password_changed_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_members (
    project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    text NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'analyst', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_idx ON project_members (user_id);

-- Server-side sessions. The cookie holds 32 random bytes; only their sha256 is stored, so a
-- dump of this table cannot be replayed as a cookie.
CREATE TABLE console_sessions (
    id_hash      text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,                      -- absolute end of the session
    address      text,                                      -- anonymised, at sign-in
    user_agent   text
);
CREATE INDEX console_sessions_user_idx ON console_sessions (user_id);

-- One-time password-reset links (printed by the CLI; no mail server is assumed).
CREATE TABLE password_resets (
    token_hash text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Failed and successful sign-ins, for rate limiting by address (kept one day).
CREATE TABLE login_attempts (
    at        timestamptz NOT NULL DEFAULT now(),
    address   text NOT NULL,                                -- the client address, sha256 hex
    email_key text NOT NULL,
    succeeded boolean NOT NULL
);
CREATE INDEX login_attempts_address_idx ON login_attempts (address, at);

-- Personal API tokens: a person's, for one project, with scopes; shown once, stored hashed.
CREATE TABLE api_tokens (
    id           text PRIMARY KEY,                          -- tok_<16 hex>
    token_hash   text NOT NULL UNIQUE,                      -- sha256 hex of the whole token
    prefix       text NOT NULL,                             -- first characters, for display
    project_id   text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id      text NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_project_idx ON api_tokens (project_id, user_id);

-- Keys replaced by a rotation, valid until valid_until (the grace period); a revocation sets
-- valid_until to the time of revocation. The current keys stay in projects.
CREATE TABLE retired_keys (
    project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('secret', 'write')),
    -- sha256 hex of a secret key; a write key itself (it is public: it sits in the snippet)
    key_value   text NOT NULL,
    prefix      text NOT NULL,
    retired_at  timestamptz NOT NULL DEFAULT now(),
    valid_until timestamptz NOT NULL,
    PRIMARY KEY (kind, key_value)
);
CREATE INDEX retired_keys_project_idx ON retired_keys (project_id, kind, valid_until);

-- Who did what to which object, when, from which (anonymised) address.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  text NOT NULL,                              -- no FK: the log outlives nothing
    at          timestamptz NOT NULL DEFAULT now(),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('member', 'token', 'secret_key', 'cli', 'system')),
    actor_id    text,                                       -- console user id / token id
    actor_label text NOT NULL,                              -- email, token name, key prefix
    action      text NOT NULL,                              -- e.g. survey.updated
    object_type text NOT NULL,
    object_id   text,
    details     jsonb NOT NULL DEFAULT '{}',
    address     text,                                       -- anonymised client address
    request_id  text
);
CREATE INDEX audit_log_project_idx ON audit_log (project_id, id DESC);

-- Data-subject requests, processed by the pipeline as jobs. The subject's ids are held in
-- `subject` only until the job is done; afterwards only their digests remain (see
-- privacy_suppressions), so this table does not itself keep the person it forgot.
CREATE TABLE privacy_requests (
    id           text PRIMARY KEY,                          -- del_<16 hex>
    project_id   text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('deletion')),
    subject      jsonb,                                     -- {"userId", "anonymousId", "accountId"}
    digests      text[] NOT NULL,                           -- subject_digest() of each id
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'failed')),
    requested_by text NOT NULL,                             -- actor label
    receipt      jsonb NOT NULL DEFAULT '{}',               -- rows removed per store
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);
CREATE INDEX privacy_requests_pending_idx ON privacy_requests (created_at)
    WHERE status IN ('queued', 'running');
CREATE INDEX privacy_requests_project_idx ON privacy_requests (project_id, created_at DESC);

-- Subjects whose events are dropped at ingest and in the pipeline: digests, never the ids.
CREATE TABLE privacy_suppressions (
    project_id text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('user', 'anonymous', 'account')),
    digest     text NOT NULL,                               -- subject_digest(project, kind, id)
    request    text,                                        -- the privacy request that added it
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, kind, digest)
);

-- Per-project retention: events older than retention_days leave the lake (NULL: kept).
CREATE TABLE privacy_config (
    project_id     text PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    retention_days integer CHECK (retention_days IS NULL OR retention_days BETWEEN 1 AND 36500),
    keep_rollups   boolean NOT NULL DEFAULT true,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
