"""The built browser SDK, as the backend serves it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cxloop

__all__ = ["SdkAsset", "SdkBundle", "find_sdk_dir", "load_bundle"]

SERVED_FILES = ("cxloop.min.js", "cxloop-surveys.min.js", "cxloop.esm.js", "snippet.min.js")


@dataclass(frozen=True)
class SdkAsset:
    body: bytes
    etag: str


@dataclass(frozen=True)
class SdkBundle:
    version: str
    assets: dict[str, SdkAsset]
    integrity: dict[str, str]


def find_sdk_dir(configured: Path | None = None) -> Path | None:
    """The configured directory, the copy inside an installed wheel, or the repo's build."""
    package = Path(cxloop.__file__).resolve().parent
    for candidate in (configured, package / "_sdk", package.parent.parent / "sdk-js" / "dist"):
        if candidate is not None and (candidate / "cxloop.min.js").exists():
            return candidate
    return None


def load_bundle(directory: Path | None) -> SdkBundle | None:
    """Read the built files once at start-up; None when the SDK has not been built."""
    if directory is None:
        return None
    meta_path = directory / "integrity.json"
    meta: dict[str, str] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    assets = {}
    for name in SERVED_FILES:
        path = directory / name
        if path.exists():
            body = path.read_bytes()
            assets[name] = SdkAsset(
                body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            )
    version = meta.get("version", "0.0.0")
    integrity = {k: v for k, v in meta.items() if k != "version"}
    return SdkBundle(version=version, assets=assets, integrity=integrity)
