"""Feedback insights: rating statistics with significance, drill-down, drivers, and the text
analysis of comments (the "analyse" step of the loop; docs/insights.md)."""

from typing import TYPE_CHECKING

from cxloop.insights.analysis import analyse_in_pipeline, analyse_pending, pending_comments
from cxloop.lazy import lazy_exports

if TYPE_CHECKING:
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

# The controllers and exports (Litestar) load where an app is built, the commands (click,
# rich) where one runs; the pipeline analyses comments without either.
__getattr__ = lazy_exports(
    __name__,
    {
        "insights_group": "cxloop.insights.cli",
        "DriversController": "cxloop.insights.drivers_controller",
        "ExportFormat": "cxloop.insights.export",
        "ExportOperation": "cxloop.insights.export",
        "FormatQuery": "cxloop.insights.export",
        "export_bytes": "cxloop.insights.export",
        "export_response": "cxloop.insights.export",
        "RatingsController": "cxloop.insights.ratings_controller",
        "InsightsTextController": "cxloop.insights.text_controller",
    },
    # Each slice registers its commands on the group when its module is imported.
    imported_with={
        "insights_group": (
            "cxloop.insights.drivers_cli",
            "cxloop.insights.ratings_cli",
            "cxloop.insights.text_cli",
        ),
    },
)

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
