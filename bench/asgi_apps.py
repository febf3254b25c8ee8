"""ASGI app factories for ``bench/bench_asgi_servers.py``: cxloop's app as a worker serves it,
to run under any ASGI server (``uvicorn --factory asgi_apps:cxloop`` / ``granian --factory``).

The settings come from the environment (``CXLOOP_DATA_DIR``, ``DATABASE_URL``, ...), as for
``cxloop serve``; the database must exist and be migrated (``cxloop projects create`` does
both). No supervisor and no pipeline: the ack path alone, the same on every server.
"""

from __future__ import annotations

from typing import Any

from cxloop.app import create_app
from cxloop.settings import Settings


def cxloop() -> Any:
    app = create_app(Settings.from_env())
    try:  # the ingest front, where the tree has it
        from cxloop.ingest.asgi import IngestFront
    except ImportError:
        return app
    return IngestFront(app, app)
