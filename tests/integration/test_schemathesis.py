"""schemathesis against the live server's OpenAPI schema: every private route, authenticated.

Each operation gets generated requests (boundary values of every parameter, then random valid
and invalid ones, then short sequences); every answer must be a documented status with the
documented content type, headers and body schema, and never a 5xx. The budget
(``CXLOOP_SCHEMATHESIS_EXAMPLES`` per operation, default 25; a fixed seed, so CI repeats the
same requests) keeps the run within a minute or two; raise it, or set
``CXLOOP_SCHEMATHESIS_SEED``, to hunt further.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.server import Project, RunningServer

MAX_EXAMPLES = os.environ.get("CXLOOP_SCHEMATHESIS_EXAMPLES", "25")
SEED = os.environ.get("CXLOOP_SCHEMATHESIS_SEED", "12")

# Every private route (secret key) but key rotation (it would retire the key the run uses), the
# public sign-in routes, the one public API route the SDK reads, and operations.
PRIVATE_API = (
    r"^/(v1/(surveys|responses|health|accounts|portfolio|views|alerts|webhooks|insights|sdk/config"
    r"|members|tokens"
    r"|audit|privacy|session|password-resets)|readyz|healthz)"
)

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "allow_header_conformance",
        "unsupported_method",
    ]
)


def test_private_api_answers_only_what_it_documents(
    server: RunningServer, project: Project, tmp_path: Path
) -> None:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{server.url}/schema/openapi.json",
        "--header",
        f"Authorization: Bearer {project.secret_key}",
        "--include-path-regex",
        PRIVATE_API,
        "--checks",
        CHECKS,
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--no-color",
        "--report-junit-path",
        str(tmp_path / "junit.xml"),
    ]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # its example database (.schemathesis/) stays out of the work tree
        env={**os.environ, "NO_COLOR": "1"},
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:]
    # Every private route was exercised: none is missing from the schema or filtered out.
    report = (tmp_path / "junit.xml").read_text()
    for prefix in (
        "surveys", "responses", "health", "accounts", "portfolio", "views", "alerts/bulk",
        "alerts", "webhooks", "sdk",
        "insights/ratings", "insights/topics", "insights/verbatims", "insights/drivers",
        "insights/config", "insights/terms", "insights/suggested-topics",
        "members", "tokens", "audit", "privacy/deletions", "privacy/exports", "privacy/retention",
        "session", "password-resets",
    ):  # fmt: skip
        assert f"/v1/{prefix}" in report, prefix
