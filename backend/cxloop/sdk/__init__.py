"""Serving the built browser SDK."""

from cxloop.sdk.assets import SdkBundle, find_sdk_dir, load_bundle
from cxloop.sdk.controller import SdkController

__all__ = ["SdkBundle", "SdkController", "find_sdk_dir", "load_bundle"]
