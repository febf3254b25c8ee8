-- 0004: rollup bookkeeping, health configuration and daily health snapshots.
-- (0003 is left to the alerts/webhooks work.)

-- The usage rollups themselves are Parquet next to the lake (lake/rollups/usage_feature,
-- lake/rollups/usage_user): DuckDB writes and reads them without a row ever crossing into
-- Python or PostgreSQL (docs/health.md).

-- Which lake files each (project, day) rollup was computed from: a partition is recomputed
-- when its file set changes (late events and replays only ever add files to a partition).
CREATE TABLE rollup_partitions (
    project_id   text NOT NULL,
    day          date NOT NULL,
    files        text NOT NULL,                       -- sha256 of the sorted "name:size" list
    rows         bigint NOT NULL,
    rolled_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, day)
);

CREATE TABLE health_config (
    project_id   text PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    config       jsonb NOT NULL,                      -- key_features, weights, bands, drop_threshold
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One snapshot per account per day, kept for the long run (a few hundred bytes each).
CREATE TABLE health_snapshots (
    project_id   text NOT NULL,
    account_id   text NOT NULL,
    day          date NOT NULL,
    score        double precision NOT NULL,
    band         text NOT NULL CHECK (band IN ('green', 'yellow', 'red')),
    confidence   text NOT NULL CHECK (confidence IN ('normal', 'low')),
    change       double precision,                    -- against the previous snapshot
    components   jsonb NOT NULL,
    drivers      jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, account_id, day)
);

CREATE INDEX health_snapshots_day_idx ON health_snapshots (project_id, day, score);
