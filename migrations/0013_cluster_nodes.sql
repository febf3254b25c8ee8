-- 0013: the nodes of a cluster and the leases they share work by (issue 19, docs/scaling.md).
--
-- Each node's pipeline upserts its row every few seconds while CXLOOP_CLUSTER is on; `cxloop
-- drain` deletes it once the node's WAL is empty. An erasure's first phase reads the WAL columns:
-- a node whose WAL may still hold a segment made before the suppression keeps it waiting, even
-- when its heartbeat has stopped (its disk may come back).
CREATE TABLE cluster_nodes (
    node_id text PRIMARY KEY,
    host text NOT NULL,
    data_dir text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    -- PostgreSQL's clock: liveness is judged against one clock for every node.
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    -- The node's clock, taken just before the WAL scan this row reports (WAL stamps are the
    -- node's clock too): nothing made before it is missing from the columns below.
    wal_scanned_at timestamptz NOT NULL,
    -- When the oldest segment still in the WAL (not yet in the lake and PostgreSQL) was made;
    -- NULL: the WAL held nothing at wal_scanned_at.
    oldest_segment_at timestamptz,
    backlog_bytes bigint NOT NULL DEFAULT 0
);

-- Named leases: singleton work (`health-refresh`, `retention`) and lake partitions
-- (`partition:<store>/project_id=…/date=…`). Acquire, renew and release are one statement
-- each (cxloop/cluster/lease.py); expiry is judged by PostgreSQL's clock alone.
CREATE TABLE cluster_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);
