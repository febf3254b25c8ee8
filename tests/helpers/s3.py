"""A real S3 API on loopback for the object-store lake: moto's server mode (PyPI ``moto[server]``).

``s3_server()`` starts ``moto_server`` on a free port, waits until it answers, and yields an
:class:`S3Server`; ``bucket()`` makes a fresh bucket for one test. The AWS variables a client
needs (fake credentials, region) are in ``env()``, so a child ``cxloop serve`` can be given them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pyarrow.fs as pafs

_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "cxloop-test",
    "AWS_SECRET_ACCESS_KEY": "cxloop-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str  # http://127.0.0.1:<port>

    def env(self) -> dict[str, str]:
        """The variables a client of this server needs (credentials are fake; moto takes any)."""
        return dict(_CREDENTIALS)

    def filesystem(self) -> pafs.S3FileSystem:
        host = self.endpoint_url.removeprefix("http://")
        return pafs.S3FileSystem(
            endpoint_override=host,
            scheme="http",
            access_key=_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret_key=_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region=_CREDENTIALS["AWS_REGION"],
            allow_bucket_creation=True,
        )

    def bucket(self, prefix: str = "cxloop") -> str:
        """A new empty bucket; returns its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.filesystem().create_dir(name)
        return name

    def lake_url(self, prefix: str = "lake") -> str:
        """``s3://<new bucket>/<prefix>``: a lake of its own for one test."""
        return f"s3://{self.bucket()}/{prefix}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def s3_server(*, timeout: float = 30.0) -> Iterator[S3Server]:
    """moto's S3 server on loopback for the block's length; its credentials set in ``os.environ``
    meanwhile (pyarrow's S3 client reads them from there)."""
    # moto logs every request to stderr: a pipe nobody reads fills after a few hundred
    # requests and stalls the server, so the log goes to a file, read if moto dies.
    with tempfile.TemporaryFile() as log:
        yield from _serve(log, timeout)


def _serve(log: IO[bytes], timeout: float) -> Iterator[S3Server]:
    port = _free_port()
    # Its request log goes to a file: into an unread pipe, it filled the pipe after a few
    # hundred requests and moto blocked on the write (every client then timed out).
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, **_CREDENTIALS},
    )
    saved = {k: os.environ.get(k) for k in _CREDENTIALS}
    os.environ.update(_CREDENTIALS)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read().decode(errors="replace")
                raise RuntimeError(f"moto_server exited with {proc.returncode}: {err[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not listen on {port} within {timeout} s")
            time.sleep(0.05)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
