-- 0003: what alerts and webhook delivery need on top of the tables of 0002.

-- A rating's segment, as docs/surveys.md defines it per kind (and cxloop.surveys.ratings'
-- segment_of computes it; a test holds the two equal). NULL for an unknown kind or no score.
CREATE FUNCTION cxloop_survey_segment(kind text, score double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN score IS NULL THEN NULL
        -- CES: 1 = very easy … 7 = very hard, so high effort is the bad end.
        WHEN kind = 'ces' THEN
            CASE WHEN score >= 5 THEN 'detractor' WHEN score <= 3 THEN 'promoter' ELSE 'passive' END
        WHEN kind = 'nps' THEN
            CASE WHEN score <= 6 THEN 'detractor' WHEN score >= 9 THEN 'promoter' ELSE 'passive' END
        WHEN kind IN ('csat', 'emoji') THEN
            CASE WHEN score <= 2 THEN 'detractor' WHEN score >= 4 THEN 'promoter' ELSE 'passive' END
        WHEN kind = 'thumbs' THEN
            CASE WHEN score <= 0 THEN 'detractor' WHEN score >= 1 THEN 'promoter' ELSE 'passive' END
    END
$$;

-- GET /v1/alerts without a status filter: newest first.
CREATE INDEX alerts_opened_idx ON alerts (project_id, opened_at DESC, id DESC);
