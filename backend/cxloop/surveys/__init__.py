"""Surveys: definitions managed through the API, the SDK config, and the responses."""

from cxloop.surveys.cli import surveys_group
from cxloop.surveys.controller import SdkConfigController, SurveysController
from cxloop.surveys.model import SurveyInput
from cxloop.surveys.ratings import KINDS, SCALES, Kind, Scale, Segment, is_kind, segment_of
from cxloop.surveys.responses import ResponsesController

__all__ = [
    "KINDS",
    "SCALES",
    "Kind",
    "ResponsesController",
    "Scale",
    "SdkConfigController",
    "Segment",
    "SurveyInput",
    "SurveysController",
    "is_kind",
    "segment_of",
    "surveys_group",
]
