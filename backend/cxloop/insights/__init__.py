"""Feedback insights: rating statistics with significance, drill-down, drivers, and the text
analysis of comments (the "analyse" step of the loop; docs/insights.md)."""

from cxloop.insights.cli import insights_group
from cxloop.insights.drivers_controller import DriversController
from cxloop.insights.export import (
    ExportFormat,
    ExportOperation,
    FormatQuery,
    export_bytes,
    export_response,
)

__all__ = [
    "DriversController",
    "ExportFormat",
    "ExportOperation",
    "FormatQuery",
    "export_bytes",
    "export_response",
    "insights_group",
]
