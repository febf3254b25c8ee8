"""Process management: the ``serve`` supervisor and the ingest worker; ``drain`` and
``cluster status`` for the nodes of a cluster."""

from typing import TYPE_CHECKING

from cxloop.lazy import lazy_exports
from cxloop.server.supervisor import ServeError, serve

if TYPE_CHECKING:
    from cxloop.server.commands import cluster_group, drain_command

# The commands load where the CLI runs one of them: serve's children need none of it.
__getattr__ = lazy_exports(
    __name__,
    {"cluster_group": "cxloop.server.commands", "drain_command": "cxloop.server.commands"},
)

__all__ = ["ServeError", "cluster_group", "drain_command", "serve"]
