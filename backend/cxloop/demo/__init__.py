"""``cxloop demo``: the server on its embedded defaults, a demo project with surveys and three
months of behaviour and ratings in Chinese and English, and the loop shown working."""

from cxloop.demo.feedback import feedback_events
from cxloop.demo.run import demo_events, run_demo

__all__ = ["demo_events", "feedback_events", "run_demo"]
