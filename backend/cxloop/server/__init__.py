"""Process management: the ``serve`` supervisor and the ingest worker."""

from cxloop.server.supervisor import ServeError, serve

__all__ = ["ServeError", "serve"]
