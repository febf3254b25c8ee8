"""The comment writer lives in the package (``cxloop demo`` uses it too):
``cxloop.demo.simulation.comments``. Re-exported here for the bench and its tests."""

from cxloop.demo.simulation.comments import *  # noqa: F403
from cxloop.demo.simulation.comments import __all__ as __all__
