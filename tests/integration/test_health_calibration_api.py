"""Calibration through the API: refused without churn, run, stored, read, applied, permissions."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers.people import add_person, audit_entries, make_session, session_headers
from tests.helpers.server import Project, RunningServer
from tests.integration.test_health_api import account_history

DEFAULTS = {"adoption", "utilisation", "depth", "trend", "recency", "feedback"}


@pytest.fixture(scope="module")
def scored(server: RunningServer, project: Project) -> None:
    events = account_history("acct_good", seats=5, users=5, healthy=True)
    events += account_history("acct_bad", seats=20, users=6, healthy=False)
    with server.client(headers=project.basic_auth) as client:
        for start in range(0, len(events), 500):
            answer = client.post("/v1/batch", json={"batch": events[start : start + 500]})
            assert answer.status_code == 200 and not answer.json()["rejected"], answer.text
    with server.client(headers=project.bearer, timeout=120) as client:
        assert client.post("/v1/health/refresh").status_code == 200


def _mark_churned(server: RunningServer, project: Project, account_id: str) -> None:
    with server.client(headers=project.basic_auth) as client:
        answer = client.post("/v1/group", json={"userId": "crm", "groupId": account_id,
                                                "traits": {"status": "churned"},
                                                "messageId": str(uuid.uuid4())})  # fmt: skip
        assert answer.status_code == 200, answer.text
    # The refresh waits for every acked event to be projected (the status column included).
    with server.client(headers=project.bearer, timeout=120) as client:
        assert client.post("/v1/health/refresh").status_code == 200


def test_calibration_from_refusal_to_applied_weights(
    server: RunningServer,
    project: Project,
    other_project: Project,
    module_database_url: str,
    scored: None,
) -> None:
    viewer = add_person(module_database_url, project.id, "viewer-cal@x.io", "viewer")
    as_viewer = session_headers(make_session(module_database_url, viewer), project.id)
    with server.client(headers=project.bearer, timeout=120) as client:
        empty = client.get("/v1/health/calibration").json()
        assert empty["latest"] is None and empty["last_applied"] is None
        assert set(empty["weights"]) == DEFAULTS

        # Nothing churned yet: a clear refusal, the CLI's words, and nothing stored.
        refused = client.post("/v1/health/calibrate", json={})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "cannot_calibrate"
        assert refused.json()["message"].startswith("cannot calibrate: 0 churned and 2 other")
        assert "status: churned" in refused.json()["message"]
        assert client.get("/v1/health/calibration").json()["latest"] is None

        bad_body = client.post("/v1/health/calibrate", json={"horizon_days": -1})
        assert bad_body.status_code == 400

        _mark_churned(server, project, "acct_bad")
        before = client.get("/v1/health/config").json()["weights"]
        created = client.post("/v1/health/calibrate", json={"horizon_days": 0})
        assert created.status_code == 201, created.text
        run = created.json()
        assert (run["churned"], run["others"], run["horizon_days"]) == (1, 1, 0)
        assert run["auc_current"] == 1.0  # the fading account is the riskier one
        assert run["applied"] is False and run["applied_at"] is None
        assert set(run["weights"]) == DEFAULTS
        assert abs(sum(run["weights"].values()) - 1) < 1e-3
        assert run["current_weights"] == before | run["current_weights"]
        assert set(run["current_weights"]) == DEFAULTS
        assert client.get("/v1/health/config").json()["weights"] == before  # not applied

        state = client.get("/v1/health/calibration").json()
        assert state["latest"]["id"] == run["id"] and state["last_applied"] is None

    # A viewer reads the result but cannot calibrate or apply; the answer names the permission.
    with server.client(headers=as_viewer) as client:
        assert client.get("/v1/health/calibration").json()["latest"]["id"] == run["id"]
        denied = client.post("/v1/health/calibrate", json={})
        assert denied.status_code == 403 and "config:write" in denied.json()["message"]
        denied = client.post(f"/v1/health/calibrations/{run['id']}/apply")
        assert denied.status_code == 403

    with server.client(headers=project.bearer, timeout=120) as client:
        applied = client.post(f"/v1/health/calibrations/{run['id']}/apply")
        assert applied.status_code == 200, applied.text
        assert applied.json()["applied"] is True and applied.json()["in_use"] is True
        config_weights = client.get("/v1/health/config").json()["weights"]
        assert config_weights == run["weights"]
        state = client.get("/v1/health/calibration").json()
        assert state["last_applied"]["id"] == run["id"] and state["latest"]["in_use"] is True

        # Calibrate-and-apply in one call; the newest applied run is the one shown.
        again = client.post("/v1/health/calibrate", json={"horizon_days": 0, "apply": True})
        assert again.status_code == 201 and again.json()["applied"] is True
        state = client.get("/v1/health/calibration").json()
        assert state["latest"]["id"] == state["last_applied"]["id"] == again.json()["id"]

        # A manual change of the weights: the run is no longer the one in use.
        config = client.get("/v1/health/config").json()
        manual = {**config, "weights": {**config["weights"], "trend": 5.0}}
        assert client.put("/v1/health/config", json=manual).status_code == 200
        assert client.get("/v1/health/calibration").json()["latest"]["in_use"] is False

        missing = client.post("/v1/health/calibrations/999999/apply")
        assert missing.status_code == 404 and missing.json()["code"] == "calibration_not_found"

    # Another project's key sees no run and cannot apply this one.
    with server.client(headers=other_project.bearer) as client:
        assert client.get("/v1/health/calibration").json()["latest"] is None
        answer = client.post(f"/v1/health/calibrations/{run['id']}/apply")
        assert answer.status_code == 404

    entries = audit_entries(module_database_url, project.id)
    created_entries = [e for e in entries if e.action == "health_calibration.created"]
    assert [e.object_id for e in created_entries] == [str(again.json()["id"]), str(run["id"])]
    assert created_entries[-1].details["churned"] == 1
    by_calibration = [
        e for e in entries
        if e.action == "health_config.updated" and e.details.get("by") == "calibration"
    ]  # fmt: skip
    assert [e.details["calibration_id"] for e in by_calibration] == [
        again.json()["id"],
        run["id"],
    ]


def test_the_cli_stores_its_run(
    server: RunningServer, project: Project, module_database_url: str, scored: None
) -> None:
    from click.testing import CliRunner

    from cxloop.health.cli import score_command

    db = ["--database-url", module_database_url, "--data-dir", str(server.data_dir)]
    result = CliRunner().invoke(
        score_command, ["--project", project.id, "--calibrate", "--horizon-days", "0", *db]
    )
    assert result.exit_code == 0 and "1 churned vs 1 other accounts" in result.output
    with server.client(headers=project.bearer) as client:
        latest = client.get("/v1/health/calibration").json()["latest"]
    assert latest["actor_label"].startswith("cli (") and latest["applied"] is False
    assert f"stored as calibration {latest['id']} (" in result.output
    assert f"POST /v1/health/calibrations/{latest['id']}/apply" in result.output
