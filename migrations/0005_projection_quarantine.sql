-- 0005: events the projection could not write.
-- PostgreSQL refusing one event (a value out of range, a character it cannot store) must not
-- wedge the whole segment: the projector isolates the event, records it here in the same
-- transaction as the rest of the segment, and projects everything else. The event itself is
-- still in the lake (lake/events, by project and day); this row says which one and why.
CREATE TABLE projection_quarantine (
    project_id      text NOT NULL,
    message_id      text NOT NULL,
    reason          text NOT NULL CHECK (reason IN ('database_refused', 'unprojectable_value')),
    detail          text NOT NULL,                    -- SQLSTATE or exception type, and message
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, message_id)
);

-- Responses without an account wait for the user's first group call (projection/sql.py,
-- ATTRIBUTE_RESPONSES); only those rows are in this index.
CREATE INDEX survey_responses_unattributed_idx ON survey_responses (project_id, user_id)
    WHERE account_id IS NULL;
