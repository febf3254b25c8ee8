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

-- The portfolio's band history reads (day, band, account) of every snapshot in a range:
-- an index-only scan instead of visiting 450k heap rows with their JSON.
CREATE INDEX health_snapshots_band_idx ON health_snapshots (project_id, day)
    INCLUDE (account_id, band, score);

-- The audit trail of one account: its alerts' entries (object_type 'alert') and its own.
CREATE INDEX audit_log_object_idx ON audit_log (project_id, object_type, object_id, id DESC);
