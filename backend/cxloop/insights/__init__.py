"""Feedback insights: rating statistics with significance, drill-down, drivers, and the text
analysis of comments (the "analyse" step of the loop; docs/insights.md)."""

from cxloop.insights.cli import insights_group

__all__ = ["insights_group"]
