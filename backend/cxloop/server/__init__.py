"""Process management: the ``serve`` supervisor and the ingest worker."""

from cxloop.server.supervisor import serve

__all__ = ["serve"]
