-- 0002: survey definitions (managed through the API), follow-up alerts opened by low ratings,
-- and signed webhooks with a delivery log. Unlike the projected tables of 0001, these hold
-- state people edit, so they reference projects and are deleted with them.

CREATE TABLE surveys (
    project_id   text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id           text NOT NULL,                          -- srv_<10 base32 chars>
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('nps', 'csat', 'ces', 'thumbs', 'emoji')),
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused')),
    -- The rest of the definition as validated by cxloop.surveys.model (question, follow_up,
    -- feature, trigger, filters, sample_percent, frequency, account_cap, placement, ...).
    definition   jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

CREATE INDEX surveys_active_idx ON surveys (project_id) WHERE status = 'active';

-- A low rating opened for follow-up: an NPS detractor, a low CSAT, a high-effort CES, a
-- thumbs down, a sad emoji. One per response (the partial and the complete event of a
-- response open one alert); opened by the projection, so replays open nothing twice.
CREATE TABLE alerts (
    project_id   text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    response_id  text NOT NULL,
    survey_id    text,
    kind         text NOT NULL,                          -- the survey kind
    score        double precision NOT NULL,
    comment      text,
    feature      text,
    user_id      text,
    anonymous_id text,
    account_id   text,
    responded_at timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'acknowledged', 'resolved')),
    assignee     text,
    notes        jsonb NOT NULL DEFAULT '[]',            -- [{"at": ..., "author": ..., "text": ...}]
    opened_at    timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, response_id)
);

CREATE INDEX alerts_status_idx ON alerts (project_id, status, opened_at DESC);
CREATE INDEX alerts_account_idx ON alerts (project_id, account_id, status);

CREATE TABLE webhooks (
    project_id   text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id           text NOT NULL,                          -- whk_<10 base32 chars>
    url          text NOT NULL,
    -- The signing secret has to be known to sign, so it is stored as is (like Stripe's and
    -- GitHub's endpoint secrets); it only proves to the receiver that cxloop sent a payload.
    secret       text NOT NULL,
    events       text[] NOT NULL,                        -- e.g. {alert.opened, health.band_changed}
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, id)
);

-- The outbox: a delivery is created in the same transaction as what it reports, then sent,
-- retried with backoff until it succeeds or runs out of attempts. Each attempt is logged.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      text NOT NULL,
    webhook_id      text NOT NULL,
    event_id        text NOT NULL,                       -- evt_…: stable across retries
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    FOREIGN KEY (project_id, webhook_id) REFERENCES webhooks (project_id, id) ON DELETE CASCADE,
    UNIQUE (webhook_id, event_id)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (project_id, webhook_id, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id   bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    status_code   integer,                               -- NULL: no HTTP answer (see error)
    error         text,
    duration_ms   double precision NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
