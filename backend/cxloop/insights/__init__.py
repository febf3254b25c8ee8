"""Feedback insights: rating statistics with significance, drill-down, drivers, and the text
analysis of comments (the "analyse" step of the loop; docs/insights.md)."""

from cxloop.insights import (
    drivers_cli,  # noqa: F401 - registers the drivers command
    ratings_cli,  # noqa: F401 - registers the rating commands
    text_cli,  # noqa: F401 - registers the comment commands
)
from cxloop.insights.analysis import analyse_in_pipeline, analyse_pending, pending_comments
from cxloop.insights.cli import insights_group
from cxloop.insights.drivers_controller import DriversController
from cxloop.insights.export import (
    ExportFormat,
    ExportOperation,
    FormatQuery,
    export_bytes,
    export_response,
)
from cxloop.insights.ratings_controller import RatingsController
from cxloop.insights.text_controller import InsightsTextController

__all__ = [
    "DriversController",
    "ExportFormat",
    "ExportOperation",
    "FormatQuery",
    "InsightsTextController",
    "RatingsController",
    "analyse_in_pipeline",
    "analyse_pending",
    "export_bytes",
    "export_response",
    "insights_group",
    "pending_comments",
]
