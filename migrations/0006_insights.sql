-- 0006: feedback insights (issue 15) — responses keep their context, Survey Shown/Dismissed are
-- counted, comments carry their text analysis, and each project has an insights configuration.

-- What analysis needs about a response, kept as it was when the response was projected
-- (projection/): where it was given, what it rated, who gave it. A later plan change does not
-- move an old answer to the new plan.
ALTER TABLE survey_responses
    ADD COLUMN locale      text,          -- context.locale of the event (the widget's language)
    ADD COLUMN page_path   text,          -- context.page.path
    ADD COLUMN plan        text,          -- the account's plan trait when first projected
    ADD COLUMN band        text,          -- the account's latest health band when first projected
    ADD COLUMN user_traits jsonb,         -- the configured key user traits (insights_config)
    ADD COLUMN segment     text GENERATED ALWAYS AS (cxloop_survey_segment(kind, score)) STORED,
    -- Text analysis of the comment (cxloop.text, run by the pipeline after projection); NULL
    -- until analysed. analysis_version is the insights_config version it was computed with:
    -- a configuration change makes every comment of the project pending again.
    ADD COLUMN language         text,     -- zh-CN | zh-TW | en | mixed | other
    ADD COLUMN tokens           text[],   -- normalised content tokens (Simplified for Chinese)
    ADD COLUMN keywords         text[],   -- TF-IDF against the project's own comments
    ADD COLUMN topics           text[],   -- topic ids
    ADD COLUMN sentiment        text,     -- positive | negative | neutral | mixed
    ADD COLUMN sentiment_score  real,     -- -1 … 1
    ADD COLUMN agreement        text,     -- the text against the score: agrees | disagrees | neutral
    ADD COLUMN churn_intent     boolean,
    ADD COLUMN competitors      text[],   -- configured competitor names mentioned
    ADD COLUMN analysis_version bigint,
    ADD COLUMN analysed_at      timestamptz;

-- Comments waiting for (re)analysis are found through this index only.
CREATE INDEX survey_responses_analysis_idx ON survey_responses (project_id, analysis_version)
    WHERE comment IS NOT NULL;

-- Survey Shown / Survey Dismissed, one row per event (deduplicated by message id), with the
-- same context as responses, so response rates can be computed per survey and per segment.
CREATE TABLE survey_impressions (
    project_id   text NOT NULL,
    message_id   text NOT NULL,
    event        text NOT NULL CHECK (event IN ('shown', 'dismissed')),
    survey_id    text,
    kind         text,
    feature      text,
    user_id      text,
    anonymous_id text,
    account_id   text,
    locale       text,
    page_path    text,
    plan         text,
    band         text,
    user_traits  jsonb,
    detail       text,                    -- shown: the placement; dismissed: the reason
    occurred_at  timestamptz NOT NULL,
    PRIMARY KEY (project_id, message_id)
);

CREATE INDEX survey_impressions_time_idx ON survey_impressions (project_id, occurred_at);

-- One document per project (validated by cxloop.insights): the user dictionary, topic
-- overrides, competitors, and which user traits responses keep. version goes up on every
-- change; comments analysed with an older version are recomputed.
CREATE TABLE insights_config (
    project_id  text PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    config      jsonb NOT NULL DEFAULT '{}',
    version     bigint NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Document frequencies of comment tokens per project, for TF-IDF keywords "against the
-- project's own corpus": maintained by the analysis step as comments are (re)analysed.
CREATE TABLE comment_term_df (
    project_id text NOT NULL,
    term       text NOT NULL,
    docs       bigint NOT NULL CHECK (docs >= 0),
    PRIMARY KEY (project_id, term)
);

-- Why an alert is open: a detractor score, churn intent or a competitor named in the comment
-- (the last two open an alert whatever the score).
ALTER TABLE alerts
    ADD COLUMN reasons text[] NOT NULL DEFAULT '{detractor}';
