"""The population model lives in the package (``cxloop demo`` uses it too):
``cxloop.demo.simulation.model``. Re-exported here for the bench and its tests."""

from cxloop.demo.simulation.model import *  # noqa: F403
from cxloop.demo.simulation.model import __all__ as __all__
