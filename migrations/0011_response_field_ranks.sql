-- 0011: a survey response's fields each remember the rank of the event that supplied them, so
-- merging events gives the same row whatever order and batches they arrive in (issue 18).
--
-- The rule was always "each field comes from the highest-ranked event that has it" (rank:
-- completed, then event time, then message_id), but a row kept only its winner's rank: a field
-- filled from a lower-ranked event could not be compared with the next event's. Final m0 (no
-- locale) + partial m1 (locale A), then partial m2 (locale B, outranks m1) kept A; m2 first gave B.

-- The rank of the event that supplied each merged field, in the order of
-- projection/prepare.py's RESPONSE_FIELDS (survey_id, kind, score, comment, feature, user_id,
-- anonymous_id, account_id, locale, page_path). NULL (the whole array or an element): the row's
-- own rank, that of message_id's event, which is what every row projected before this migration
-- holds. '' (below every event): a value looked up when projected rather than sent (the feature
-- from the survey definition, the account from the user's current account), which any event
-- that sends one replaces.
ALTER TABLE survey_responses ADD COLUMN field_ranks text[];

-- An event's rank as text whose byte order (COLLATE "C") is the order of (completed, event time,
-- message_id): '1' completed / '0' partial, the event time in microseconds since the epoch plus
-- 10^18 as 19 digits (years 1 to 9999 all fit), then the message id.
CREATE FUNCTION cxloop_response_rank(partial boolean, updated_at timestamptz, message_id text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN partial THEN '0' ELSE '1' END
        || lpad(((extract(epoch FROM updated_at) * 1000000)::bigint
                 + 1000000000000000000)::text, 19, '0')
        || message_id
$$;

-- The rank of one field's value (NULL when the field is NULL: any value outranks none).
CREATE FUNCTION cxloop_field_rank(present boolean, ranks text[], field integer, row_rank text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN present THEN coalesce(ranks[field], row_rank) END
$$;

-- Whether an incoming field value replaces the stored one: it has a value, and the stored one
-- has none or a lower rank (equal ranks: the same event, or two looked-up values; stored stays).
CREATE FUNCTION cxloop_outranks(incoming text, stored text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(incoming COLLATE "C" > stored COLLATE "C", incoming IS NOT NULL)
$$;

-- Every projection batch updates the seen times of each user, account and membership it
-- touches (most rows, every batch). With room left in each page, PostgreSQL makes those
-- heap-only updates (HOT: no new index entries, the old version pruned in the page) whenever
-- no indexed column changes, which is nearly always. Pages written from now on keep 20 % free;
-- existing pages get it when the table is rewritten (VACUUM FULL, pg_repack).
ALTER TABLE users SET (fillfactor = 80);
ALTER TABLE accounts SET (fillfactor = 80);
ALTER TABLE memberships SET (fillfactor = 80);
