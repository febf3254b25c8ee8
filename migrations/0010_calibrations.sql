-- 0010_calibrations: every calibration of the health weights (`cxloop score --calibrate`,
-- POST /v1/health/calibrate), kept so the console can show what the last one found and apply a
-- stored run's weights later. A run holds counts and weights only, never an account id.
CREATE TABLE health_calibrations (
    project_id      text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    actor_label     text NOT NULL,                      -- as the audit log names the caller
    horizon_days    integer NOT NULL CHECK (horizon_days >= 0),
    churned         integer NOT NULL CHECK (churned >= 0),
    others          integer NOT NULL CHECK (others >= 0),
    weights         jsonb NOT NULL,                     -- the fitted weights (sum 1)
    current_weights jsonb NOT NULL,                     -- the weights in use when it ran
    auc_current     double precision NOT NULL,          -- back-test ROC AUC, weights in use
    auc_calibrated  double precision,                   -- k-fold back-test, fitted weights
    applied         boolean NOT NULL DEFAULT false,
    applied_at      timestamptz,                        -- the last time its weights were saved
    CHECK (applied = (applied_at IS NOT NULL))
);
CREATE INDEX health_calibrations_recent_idx ON health_calibrations (project_id, created_at DESC);
