"""The CS console: the web app served at ``/console/`` (sources in ``console/`` at the repo root).

The server hands out one HTML shell for every console path (the app routes in the browser) with
a fresh CSP nonce, and the built assets, named by content hash, with year-long immutable caching.
The console reads and changes data only through the private API, as the signed-in person.
"""

from cxloop.console.assets import ConsoleAsset, ConsoleBundle, load_console
from cxloop.console.controller import ConsoleController, console_csp

__all__ = ["ConsoleAsset", "ConsoleBundle", "ConsoleController", "console_csp", "load_console"]
