"""Several ingest nodes sharing one PostgreSQL and one lake (issue 19)."""

# Dedupe claims across nodes (claims.py); node_id (identity.py) is a stand-in for the
# coordination helper's node.py, which owns it.
from cxloop.cluster.claims import ClusterDedupe, ClusterDedupeUnavailable, owner_name
from cxloop.cluster.identity import node_id

__all__ = [
    "ClusterDedupe",
    "ClusterDedupeUnavailable",
    "node_id",
    "owner_name",
]
