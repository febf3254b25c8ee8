"""Surveys: definitions managed through the API, the SDK config, and the responses."""

from cxloop.surveys.controller import SdkConfigController, SurveysController
from cxloop.surveys.ratings import KINDS, SCALES, Kind, Scale, Segment, segment_of
from cxloop.surveys.responses import ResponsesController

__all__ = [
    "KINDS",
    "SCALES",
    "Kind",
    "ResponsesController",
    "Scale",
    "SdkConfigController",
    "Segment",
    "SurveysController",
    "segment_of",
]
