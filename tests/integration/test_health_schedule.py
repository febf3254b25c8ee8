"""The server refreshes health on its own schedule, without anyone calling the API."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers.server import create_project, running_server
from tests.integration.test_health_api import account_history


def test_scores_appear_on_the_schedule(database_url: str, tmp_path: Path) -> None:
    project = create_project(database_url, "scheduled")
    with running_server(tmp_path / "data", database_url, health_refresh_s=0.5) as server:
        events = account_history("acct_sched", seats=4, users=4, healthy=True)
        with server.client(headers=project.basic_auth) as client:
            for start in range(0, len(events), 500):
                assert client.post(
                    "/v1/batch", json={"batch": events[start : start + 500]}
                ).is_success
        deadline = time.monotonic() + 60
        accounts: list[dict[str, object]] = []
        with server.client(headers=project.bearer) as client:
            while time.monotonic() < deadline and not accounts:
                accounts = client.get("/v1/accounts").json()["accounts"]
                time.sleep(0.3)
        assert [a["account_id"] for a in accounts] == ["acct_sched"], server.log()[-2000:]
        assert accounts[0]["band"] == "green"
        assert "health of" in server.log()
