"""Where the lake lives: a local directory (the default) or a prefix on an S3-compatible store.

Every lake reader and writer is handed a :class:`LakeLocation`. On local disk (``local`` set) the
existing fast paths run unchanged: temp files, ``fdatasync`` every 4 MiB, renames and directory
swaps. On object storage there are no renames: a file becomes visible by one PUT of its final key
(a multipart upload is invisible until it completes), so no reader ever sees a partial file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from cxloop.settings import Settings

__all__ = ["LakeLocation"]


@dataclass(frozen=True, slots=True)
class LakeLocation:
    """The lake's root: ``fs`` and ``root`` for pyarrow; ``local`` when it is a directory."""

    url: str  # as configured: a directory or ``s3://bucket/prefix``
    root: (
        str  # the root inside ``fs``: an absolute path, or ``bucket/prefix`` (no slash at the end)
    )
    local: Path | None  # the directory, when the lake is on local disk
    endpoint_url: str | None = None  # the S3 API's address, for a store that is not AWS

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeLocation:
        if settings.lake_url is None:
            return cls.directory(settings.lake_dir)
        if settings.lake_url.startswith("s3://"):
            return cls.object_store(settings.lake_url, settings.s3_endpoint_url)
        return cls.directory(Path(settings.lake_url))

    @classmethod
    def directory(cls, path: Path) -> LakeLocation:
        absolute = path.absolute()
        return cls(url=str(absolute), root=str(absolute), local=absolute)

    @classmethod
    def object_store(cls, url: str, endpoint_url: str | None = None) -> LakeLocation:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"{url}: an object-store lake is s3://bucket/prefix")
        root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
        return cls(url=url, root=root, local=None, endpoint_url=endpoint_url)

    @property
    def is_local(self) -> bool:
        return self.local is not None

    def path(self, *parts: str) -> str:
        """A key or path under the root, for ``fs``."""
        return "/".join((self.root, *(p.strip("/") for p in parts if p)))

    def uri(self, *parts: str) -> str:
        """The same as a URL engines outside pyarrow understand (``s3://…`` or a local path)."""
        if self.local is not None:
            return self.path(*parts)
        return "s3://" + self.path(*parts)

    @property
    def fs(self) -> pafs.FileSystem:
        """A pyarrow filesystem for the lake (made on each call: cheap; S3 clients are pooled)."""
        import pyarrow.fs as pafs

        if self.local is not None:
            return pafs.LocalFileSystem()
        return _s3(self.endpoint_url)


def _s3(endpoint_url: str | None) -> pafs.S3FileSystem:
    import os

    import pyarrow.fs as pafs

    options: dict[str, object] = {
        "region": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=5),
    }
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        options["endpoint_override"] = parts.netloc or endpoint_url
        options["scheme"] = parts.scheme or "https"
    return pafs.S3FileSystem(**options)
