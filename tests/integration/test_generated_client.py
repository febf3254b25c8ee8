"""A Python client generated from the live ``/schema/openapi.json`` covers the whole API.

openapi-python-client writes a typed client from the schema; the test imports it and calls
private routes (secret key), a public one (write key) and ingest (a raw ASGI route described by
hand-written path items), so a schema a generator cannot read, or that disagrees with the
answers, fails here rather than in a customer's build.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers.server import Project, RunningServer

PACKAGE = "cxloop_generated_client"


@pytest.fixture(scope="module")
def generated(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    work = tmp_path_factory.mktemp("client")
    with server.client() as http:
        answer = http.get("/schema/openapi.json")
    assert answer.status_code == 200, answer.text
    schema = work / "openapi.json"
    schema.write_bytes(answer.content)
    bin_dir = Path(sys.executable).parent
    run = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(schema),
            "--meta",
            "none",
            "--output-path",
            str(work / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
        # Its post-generation hooks run ruff from PATH.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # Every operation became a function: nothing was skipped as unreadable.
    assert "Warning" not in output, output
    sys.path.insert(0, str(work))
    try:
        yield _Client(importlib.import_module(PACKAGE))
    finally:
        sys.path.remove(str(work))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


class _Client:
    """The generated package, with its modules imported by their short names."""

    def __init__(self, package: ModuleType) -> None:
        self.package = package

    def api(self, tag: str, operation: str) -> Any:
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")

    @property
    def models(self) -> Any:
        return importlib.import_module(f"{PACKAGE}.models")

    def private(self, server: RunningServer, project: Project) -> Any:
        return self.package.AuthenticatedClient(base_url=server.url, token=project.secret_key)

    def public(self, server: RunningServer, **httpx_args: Any) -> Any:
        return self.package.Client(base_url=server.url, httpx_args=httpx_args)


def test_operations_and_liveness(generated: Any, server: RunningServer) -> None:
    with generated.public(server) as client:
        liveness = generated.api("operations", "get_healthz").sync(client=client)
    assert isinstance(liveness, generated.models.Liveness)
    assert liveness.status == "ok"


def test_private_routes_with_the_secret_key(
    generated: Any, server: RunningServer, project: Project
) -> None:
    models = generated.models
    with generated.private(server, project) as client:
        page = generated.api("accounts", "list_accounts").sync(client=client)
        assert isinstance(page, models.AccountPage)
        assert page.accounts == [] and page.next_cursor is None

        definition = models.SurveyInput.from_dict(
            {"name": "Generated NPS", "kind": "nps", "question": {"en": "Recommend us?"}}
        )
        created = generated.api("surveys", "create_survey").sync(client=client, body=definition)
        assert isinstance(created, models.SurveyAnswer), created
        survey = generated.api("surveys", "get_survey").sync(client=client, survey_id=created.id)
        assert isinstance(survey, models.SurveyAnswer)
        assert (survey.id, survey.name, survey.status) == (created.id, "Generated NPS", "draft")
        missing = generated.api("surveys", "get_survey").sync(client=client, survey_id="srv_none")
        assert isinstance(missing, models.Error) and missing.code == "survey_not_found"

        body = models.WebhookInput(url="https://hooks.example.com/cxloop", events=["alert.opened"])
        webhook = generated.api("webhooks", "create_webhook").sync(client=client, body=body)
        assert isinstance(webhook, models.CreatedWebhook), webhook
        assert webhook.secret.startswith(webhook.secret_prefix)
        listed = generated.api("webhooks", "list_webhooks").sync(client=client)
        assert webhook.id in [w.id for w in listed.webhooks]


def test_ingest_with_the_write_key(generated: Any, server: RunningServer, project: Project) -> None:
    models = generated.models
    message_id = f"gen-{uuid.uuid4()}"
    event = models.Event.from_dict(
        {"type": "track", "event": "Report Exported", "userId": "u1", "messageId": message_id}
    )
    batch = models.IngestBatch(batch=[event])
    with generated.public(server, auth=(project.write_key, "")) as client:
        answer = generated.api("ingest", "ingest_batch").sync(client=client, body=batch)
    assert isinstance(answer, models.IngestAnswer), answer
    assert (answer.accepted, answer.rejected) == (1, [])
    assert message_id in server.wait_for_lake({message_id}, project.id)


def test_ingest_refusal_is_the_documented_error(generated: Any, server: RunningServer) -> None:
    models = generated.models
    batch = models.IngestBatch(batch=[])
    with generated.public(server, auth=("wk_unknown", "")) as client:
        answer = generated.api("ingest", "ingest_batch").sync(client=client, body=batch)
    assert isinstance(answer, models.Error)
    assert answer.code == "invalid_write_key"
