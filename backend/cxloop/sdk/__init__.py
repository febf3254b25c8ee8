"""Serving the built browser SDK, and the widget-demo app at ``/demo/``."""

from cxloop.sdk.assets import SdkBundle, find_sdk_dir, load_bundle
from cxloop.sdk.controller import SdkController
from cxloop.sdk.demo import DemoController, find_demo_dir

__all__ = [
    "DemoController",
    "SdkBundle",
    "SdkController",
    "find_demo_dir",
    "find_sdk_dir",
    "load_bundle",
]
