"""Several cxloop nodes sharing one PostgreSQL and one lake (issue 19, docs/scaling.md)."""

# -- coordination: nodes, heartbeats, leases, draining (cluster/node.py, cluster/lease.py) --
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
    # -- coordination --
    "HEALTH_REFRESH_LEASE",
    "RETENTION_LEASE",
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
    "partition_lease_name",
    "wal_report",
]
