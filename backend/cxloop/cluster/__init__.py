"""Several ingest nodes sharing one PostgreSQL and one lake (issue 19, docs/scaling.md):
dedupe claims across nodes (``claims.py``); node ids, heartbeats, leases and what draining
needs (``node.py``, ``lease.py``)."""

from cxloop.cluster.claims import ClusterDedupe, ClusterDedupeUnavailable, owner_name
from cxloop.cluster.lease import (
    HEALTH_REFRESH_LEASE,
    RETENTION_LEASE,
    Leases,
    LeaseStatus,
    PartitionLeases,
    SingletonRole,
    list_leases,
    partition_lease_name,
)
from cxloop.cluster.node import (
    NodeHeartbeat,
    NodeStatus,
    WalReport,
    WalWaiter,
    forget_node,
    heartbeat_interval_s,
    list_nodes,
    node_id,
    nodes_holding_wal_before,
    wal_report,
)

__all__ = [
    "HEALTH_REFRESH_LEASE",
    "RETENTION_LEASE",
    "ClusterDedupe",
    "ClusterDedupeUnavailable",
    "LeaseStatus",
    "Leases",
    "NodeHeartbeat",
    "NodeStatus",
    "PartitionLeases",
    "SingletonRole",
    "WalReport",
    "WalWaiter",
    "forget_node",
    "heartbeat_interval_s",
    "list_leases",
    "list_nodes",
    "node_id",
    "nodes_holding_wal_before",
    "owner_name",
    "partition_lease_name",
    "wal_report",
]
