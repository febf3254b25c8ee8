-- 0007: daily rollups of ratings and impressions for the insights routes (issue 15).
--
-- GET /v1/insights/ratings over a year of a busy project reads hundreds of thousands of
-- responses; PostgreSQL aggregates about a million rows a second, too slow for an answer under
-- 300 ms. These tables hold the counts per UTC day and per value of the dimensions most
-- questions use (survey, feature, plan, band, locale); questions about pages, accounts or user
-- traits read survey_responses / survey_impressions themselves.
--
-- Statement-level triggers keep them exact in the same transaction as the change: every
-- INSERT, UPDATE (including INSERT ... ON CONFLICT DO UPDATE and COPY), DELETE and TRUNCATE
-- adds the new rows' counts and takes away the old ones' (transition tables: one set-based
-- upsert per statement, in key order so concurrent writers lock rollup rows in the same order).

CREATE TABLE survey_rating_days (
    project_id text NOT NULL,
    kind       text NOT NULL,
    day        date NOT NULL,                -- UTC day of responded_at
    survey_id  text,
    feature    text,
    plan       text,
    band       text,
    locale     text,
    n          bigint NOT NULL,              -- ratings (responses with a score)
    promoters  bigint NOT NULL,
    passives   bigint NOT NULL,
    detractors bigint NOT NULL,
    total      double precision NOT NULL,    -- sum of scores (CES mean)
    squares    double precision NOT NULL,    -- sum of squared scores (CES variance)
    UNIQUE NULLS NOT DISTINCT (project_id, kind, day, survey_id, feature, plan, band, locale)
);

CREATE TABLE survey_shown_days (
    project_id text NOT NULL,
    kind       text NOT NULL,
    day        date NOT NULL,                -- UTC day of occurred_at
    survey_id  text,
    feature    text,
    plan       text,
    band       text,
    locale     text,
    shown      bigint NOT NULL,              -- Survey Shown events
    UNIQUE NULLS NOT DISTINCT (project_id, kind, day, survey_id, feature, plan, band, locale)
);

-- The rows a statement added (+1) and removed (−1), by the transition tables the firing
-- trigger declares: new_rows for INSERT, old_rows for DELETE, both for UPDATE. (A static query
-- may not name a transition table its trigger lacks, hence the fixed fragments below.)
CREATE FUNCTION cxloop_transition_rows(operation text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE operation
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, r.* FROM new_rows AS r'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, r.* FROM old_rows AS r'
        ELSE 'SELECT 1 AS sign, r.* FROM new_rows AS r '
             'UNION ALL SELECT -1 AS sign, r.* FROM old_rows AS r'
    END
$$;

CREATE FUNCTION cxloop_rating_days_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($sql$
        INSERT INTO survey_rating_days AS d (
            project_id, kind, day, survey_id, feature, plan, band, locale,
            n, promoters, passives, detractors, total, squares
        )
        SELECT project_id, kind, (responded_at AT TIME ZONE 'UTC')::date AS day,
               survey_id, feature, plan, band, locale,
               sum(sign), sum(sign * (segment = 'promoter')::int),
               sum(sign * (segment = 'passive')::int), sum(sign * (segment = 'detractor')::int),
               sum(sign * score), sum(sign * score * score)
        FROM (%s) AS delta
        WHERE kind IS NOT NULL AND score IS NOT NULL
        GROUP BY project_id, kind, 3, survey_id, feature, plan, band, locale
        -- An update that moved nothing the rollup counts cancels out: no write at all.
        HAVING sum(sign) <> 0 OR sum(sign * (segment = 'promoter')::int) <> 0
            OR sum(sign * (segment = 'detractor')::int) <> 0 OR sum(sign * score) <> 0
            OR sum(sign * score * score) <> 0
        ORDER BY project_id, kind, 3, survey_id, feature, plan, band, locale
        ON CONFLICT (project_id, kind, day, survey_id, feature, plan, band, locale)
        DO UPDATE SET
            n = d.n + excluded.n,
            promoters = d.promoters + excluded.promoters,
            passives = d.passives + excluded.passives,
            detractors = d.detractors + excluded.detractors,
            total = d.total + excluded.total,
            squares = d.squares + excluded.squares
    $sql$, cxloop_transition_rows(TG_OP));
    RETURN NULL;
END
$$;

CREATE FUNCTION cxloop_shown_days_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($sql$
        INSERT INTO survey_shown_days AS d (
            project_id, kind, day, survey_id, feature, plan, band, locale, shown
        )
        SELECT project_id, kind, (occurred_at AT TIME ZONE 'UTC')::date AS day,
               survey_id, feature, plan, band, locale, sum(sign)
        FROM (%s) AS delta
        WHERE event = 'shown' AND kind IS NOT NULL
        GROUP BY project_id, kind, 3, survey_id, feature, plan, band, locale
        HAVING sum(sign) <> 0
        ORDER BY project_id, kind, 3, survey_id, feature, plan, band, locale
        ON CONFLICT (project_id, kind, day, survey_id, feature, plan, band, locale)
        DO UPDATE SET shown = d.shown + excluded.shown
    $sql$, cxloop_transition_rows(TG_OP));
    RETURN NULL;
END
$$;

CREATE FUNCTION cxloop_rating_days_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'survey_responses' THEN
        DELETE FROM survey_rating_days;
    ELSE
        DELETE FROM survey_shown_days;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER survey_rating_days_insert AFTER INSERT ON survey_responses
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_rating_days_change();
CREATE TRIGGER survey_rating_days_update AFTER UPDATE ON survey_responses
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_rating_days_change();
CREATE TRIGGER survey_rating_days_delete AFTER DELETE ON survey_responses
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_rating_days_change();
CREATE TRIGGER survey_rating_days_truncate AFTER TRUNCATE ON survey_responses
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_rating_days_truncate();

CREATE TRIGGER survey_shown_days_insert AFTER INSERT ON survey_impressions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_shown_days_change();
CREATE TRIGGER survey_shown_days_update AFTER UPDATE ON survey_impressions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_shown_days_change();
CREATE TRIGGER survey_shown_days_delete AFTER DELETE ON survey_impressions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_shown_days_change();
CREATE TRIGGER survey_shown_days_truncate AFTER TRUNCATE ON survey_impressions
    FOR EACH STATEMENT EXECUTE FUNCTION cxloop_rating_days_truncate();

-- What was projected before this migration.
INSERT INTO survey_rating_days (
    project_id, kind, day, survey_id, feature, plan, band, locale,
    n, promoters, passives, detractors, total, squares
)
SELECT project_id, kind, (responded_at AT TIME ZONE 'UTC')::date, survey_id, feature, plan,
       band, locale, count(*), count(*) FILTER (WHERE segment = 'promoter'),
       count(*) FILTER (WHERE segment = 'passive'), count(*) FILTER (WHERE segment = 'detractor'),
       sum(score), sum(score * score)
FROM survey_responses
WHERE kind IS NOT NULL AND score IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

INSERT INTO survey_shown_days (project_id, kind, day, survey_id, feature, plan, band, locale, shown)
SELECT project_id, kind, (occurred_at AT TIME ZONE 'UTC')::date, survey_id, feature, plan, band,
       locale, count(*)
FROM survey_impressions
WHERE event = 'shown' AND kind IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
