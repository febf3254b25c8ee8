"""The console's built files (``console/scripts/build.mjs`` writes them into ``static/``)."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATIC_DIR", "ConsoleAsset", "ConsoleBundle", "load_console"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class ConsoleAsset:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str


@dataclass(frozen=True)
class ConsoleBundle:
    """Hashed file name → asset, the logical names (``console.js``) → hashed names, and what to
    preload: the entry's static imports, and per page its own chunks."""

    assets: dict[str, ConsoleAsset]
    names: dict[str, str]
    preload: list[str]  # chunks the entry imports statically
    pages: dict[str, list[str]]  # page → its chunk and the chunks it imports (not in preload)
    directory: Path
    stamp: float  # the manifest's mtime: a rebuild (npm run build) is picked up without a restart

    def current(self) -> ConsoleBundle:
        """This bundle, or the rebuilt one when the manifest changed since it was read."""
        try:
            stamp = (self.directory / "manifest.json").stat().st_mtime
        except OSError:
            return self
        return self if stamp == self.stamp else (load_console(self.directory) or self)


def load_console(directory: Path = STATIC_DIR) -> ConsoleBundle | None:
    """Read (and gzip) the built files once at start-up; None when the console was not built."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        return None
    stamp = manifest_path.stat().st_mtime
    manifest = json.loads(manifest_path.read_text())
    names: dict[str, str] = manifest["files"]
    assets = {}
    for hashed in [*names.values(), *manifest.get("chunks", ())]:
        body = (directory / hashed).read_bytes()
        assets[hashed] = ConsoleAsset(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            media_type=_MEDIA.get(Path(hashed).suffix, "application/octet-stream"),
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        )
    return ConsoleBundle(
        assets=assets,
        names=names,
        preload=list(manifest.get("preload", ())),
        pages={page: list(chunks) for page, chunks in manifest.get("pages", {}).items()},
        directory=directory,
        stamp=stamp,
    )
