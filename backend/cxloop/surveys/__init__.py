"""Surveys: definitions managed through the API, the SDK config, and the responses."""

from typing import TYPE_CHECKING

from cxloop.lazy import lazy_exports
from cxloop.surveys.intervals import (
    Z95,
    Interval,
    adjusted_wald,
    incomplete_beta,
    mean_interval,
    normal_cdf,
    normal_quantile,
    t_cdf,
    t_quantile,
    wilson,
)
from cxloop.surveys.model import SurveyInput
from cxloop.surveys.ratings import KINDS, SCALES, Kind, Scale, Segment, is_kind, segment_of
from cxloop.surveys.schemas import Rating
from cxloop.surveys.store import create_survey, list_surveys, set_status

if TYPE_CHECKING:
    from cxloop.surveys.cli import surveys_group
    from cxloop.surveys.controller import SdkConfigController, SurveysController
    from cxloop.surveys.responses import ResponsesController

# The controllers (Litestar) load where an app is built, the commands (click, rich) where one
# runs; ingest and the projection read ratings without either.
__getattr__ = lazy_exports(
    __name__,
    {
        "surveys_group": "cxloop.surveys.cli",
        "SdkConfigController": "cxloop.surveys.controller",
        "SurveysController": "cxloop.surveys.controller",
        "ResponsesController": "cxloop.surveys.responses",
    },
)

__all__ = [
    "KINDS",
    "SCALES",
    "Z95",
    "Interval",
    "Kind",
    "Rating",
    "ResponsesController",
    "Scale",
    "SdkConfigController",
    "Segment",
    "SurveyInput",
    "SurveysController",
    "adjusted_wald",
    "create_survey",
    "incomplete_beta",
    "is_kind",
    "list_surveys",
    "mean_interval",
    "normal_cdf",
    "normal_quantile",
    "segment_of",
    "set_status",
    "surveys_group",
    "t_cdf",
    "t_quantile",
    "wilson",
]
