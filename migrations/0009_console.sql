-- 0009_console: what the CS console needs beyond 0001–0008: saved views of its list pages,
-- and indexes for the accounts table's filters and the portfolio's band history.

-- A saved view: a named query string of one console page, the owner's own or shared with the
-- project. `query` is an object of string → string or list of strings (checked by the API).
CREATE TABLE saved_views (
    id          text PRIMARY KEY,                           -- view_<16 hex>
    project_id  text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner_id    text NOT NULL,                              -- console user id / token id / key label
    owner_label text NOT NULL,                              -- email, token name, key prefix
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    page        text NOT NULL CHECK (page IN ('accounts', 'feedback', 'alerts')),
    query       jsonb NOT NULL CHECK (jsonb_typeof(query) = 'object'),
    shared      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saved_views_page_idx ON saved_views (project_id, page, name);

-- The accounts list and the portfolio read a day's (or a range of days') snapshots without
-- their JSON: an index-only scan instead of visiting heap rows of ~1 KB each (450k of them for
-- 5,000 accounts × 90 days).
CREATE INDEX health_snapshots_summary_idx ON health_snapshots (project_id, day)
    INCLUDE (account_id, score, band, confidence, change);

-- The audit trail of one account: its alerts' entries (object_type 'alert') and its own.
CREATE INDEX audit_log_object_idx ON audit_log (project_id, object_type, object_id, id DESC);

-- The portfolio's band history: accounts and their MRR per band per snapshot day, kept by
-- triggers as snapshots are written, rewritten and purged, so the page reads 3 rows a day
-- instead of aggregating 5,000 snapshots a day. Each snapshot records the account's `mrr`
-- trait when it was written (a history the trait itself does not have).
ALTER TABLE health_snapshots ADD COLUMN mrr numeric;
UPDATE health_snapshots AS s SET mrr = a.mrr
FROM accounts AS a WHERE a.project_id = s.project_id AND a.account_id = s.account_id;

CREATE TABLE health_band_days (
    project_id text NOT NULL,
    day        date NOT NULL,
    band       text NOT NULL,
    accounts   integer NOT NULL,
    mrr        numeric NOT NULL,                    -- the sum of the snapshots' mrr (none: 0)
    PRIMARY KEY (project_id, day, band)
);
INSERT INTO health_band_days
SELECT project_id, day, band, count(*), coalesce(sum(mrr), 0)
FROM health_snapshots GROUP BY 1, 2, 3;

CREATE FUNCTION cxloop_snapshot_mrr() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.mrr := (SELECT mrr FROM accounts
                WHERE project_id = NEW.project_id AND account_id = NEW.account_id);
    RETURN NEW;
END $$;

CREATE FUNCTION cxloop_band_days() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE health_band_days
        SET accounts = accounts - 1, mrr = mrr - coalesce(OLD.mrr, 0)
        WHERE project_id = OLD.project_id AND day = OLD.day AND band = OLD.band;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO health_band_days AS d (project_id, day, band, accounts, mrr)
        VALUES (NEW.project_id, NEW.day, NEW.band, 1, coalesce(NEW.mrr, 0))
        ON CONFLICT (project_id, day, band) DO UPDATE
        SET accounts = d.accounts + 1, mrr = d.mrr + EXCLUDED.mrr;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER health_snapshots_mrr BEFORE INSERT OR UPDATE ON health_snapshots
    FOR EACH ROW EXECUTE FUNCTION cxloop_snapshot_mrr();
CREATE TRIGGER health_snapshots_band_days AFTER INSERT OR UPDATE OR DELETE ON health_snapshots
    FOR EACH ROW EXECUTE FUNCTION cxloop_band_days();
