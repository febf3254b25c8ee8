"""Surveys: definitions managed through the API, the SDK config, and the responses."""

from cxloop.surveys.controller import SdkConfigController, SurveysController
from cxloop.surveys.model import segment_of
from cxloop.surveys.responses import ResponsesController

__all__ = ["ResponsesController", "SdkConfigController", "SurveysController", "segment_of"]
