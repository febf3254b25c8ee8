-- 0012: the dedupe claims of a cluster (issue 19): when several nodes ingest, which segment of
-- which node owns each (kind, project, messageId) is decided here, not in each node's own index.
--
-- Same fingerprints and ownership as the local index (ARCHITECTURE.md, decision 6): a key is the
-- 96-bit keyed fingerprint (hi 64 bits, lo 32 bits, as signed integers), its owner the segment
-- `<node_id>.<segment_id>` that claimed it first. Keys live in one partition per *generation*
-- (a few UTC days of claims, named by its first day); expiry drops whole partitions (nothing is scanned or deleted
-- row by row). Uniqueness holds across partitions because every claim runs under a shared
-- advisory lock and inserts into the current generation only: moving to the next generation
-- takes that lock exclusively, so it waits for the claims in flight, and every later claim sees
-- what they committed when it looks in the older partitions (cxloop/cluster/claims.py).

-- The cluster's one fingerprint salt: made once by the first node (INSERT ... ON CONFLICT DO
-- NOTHING, then read back), never changed while keys exist.
CREATE TABLE cluster_dedupe_salt (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    salt bytea NOT NULL CHECK (length(salt) = 8),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The generation (its first day) claims go into now. It only moves forward.
CREATE TABLE cluster_dedupe_generation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    day date NOT NULL
);

-- Keys per generation (for gauges and for what expiry removed, without counting rows).
CREATE TABLE cluster_dedupe_days (
    day date PRIMARY KEY,
    keys bigint NOT NULL DEFAULT 0
);

-- A segment that claimed keys. `owner` is what a claim row holds (8 bytes, not the name).
CREATE TABLE cluster_dedupe_owners (
    owner bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id text NOT NULL,
    segment_id text NOT NULL,
    received_day date NOT NULL,  -- the newest receive day among its rows
    claimed_day date NOT NULL,  -- the newest generation it claimed in
    released_at timestamptz,  -- projected: nobody asks which keys it owns any more
    UNIQUE (node_id, segment_id)
);
CREATE INDEX cluster_dedupe_owners_claimed_day ON cluster_dedupe_owners (claimed_day);

-- The claims: 8 + 4 + 8 bytes a key and the primary key (hi, lo) of each partition.
CREATE TABLE cluster_dedupe_claims (
    day date NOT NULL,
    hi bigint NOT NULL,
    lo integer NOT NULL,
    owner bigint NOT NULL
) PARTITION BY LIST (day);

-- Creates the partition of one generation (idempotent). Called under the exclusive lock.
CREATE FUNCTION cluster_dedupe_open_day(generation date) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF cluster_dedupe_claims '
        '(PRIMARY KEY (hi, lo)) FOR VALUES IN (%L)',
        'cluster_dedupe_claims_' || to_char(generation, 'YYYYMMDD'),
        generation
    );
    INSERT INTO cluster_dedupe_days (day) VALUES (generation) ON CONFLICT (day) DO NOTHING;
END
$$;

-- Drops the generations before `cutoff` (never the current one) and the owners that claimed
-- in none of the rest; returns the keys dropped. Called under the exclusive lock.
CREATE FUNCTION cluster_dedupe_drop_days(cutoff date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    current_day date := (SELECT day FROM cluster_dedupe_generation);
    dropped bigint := 0;
    old record;
BEGIN
    IF current_day IS NOT NULL AND cutoff > current_day THEN
        cutoff := current_day;
    END IF;
    FOR old IN SELECT day, keys FROM cluster_dedupe_days WHERE day < cutoff ORDER BY day LOOP
        EXECUTE format(
            'DROP TABLE IF EXISTS %I', 'cluster_dedupe_claims_' || to_char(old.day, 'YYYYMMDD')
        );
        DELETE FROM cluster_dedupe_days WHERE day = old.day;
        dropped := dropped + old.keys;
    END LOOP;
    DELETE FROM cluster_dedupe_owners WHERE claimed_day < cutoff;
    RETURN dropped;
END
$$;
