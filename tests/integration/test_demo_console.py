"""What the console's browser tests start: `cxloop demo --accounts 40 --days 30 --json`, kept
running. Its one JSON line opens everything: the demo people sign in with their roles, and the
portfolio has the CRM traits, a score history, ratings and comments in both languages and
open alerts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxloop.demo.simulation.model import CSMS
from tests.helpers.processes import embedded_env

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("cxloop-demo-json")
    log = (data_dir.parent / "demo-json.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "demo", "--accounts", "40", "--days", "30",
         "--json"],
        env=embedded_env(data_dir, port=0),
        stdout=subprocess.PIPE,
        stderr=log,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first and only line of stdout
        assert line, f"the demo exited: {process.wait()}"
        answer: dict[str, Any] = json.loads(line)
        yield answer
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(90) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


def test_the_json_line_names_everything(demo: dict[str, Any]) -> None:
    assert set(demo) == {"url", "console_url", "project_id", "write_key", "secret_key", "people"}
    assert demo["console_url"] == demo["url"] + "/console/"
    assert demo["project_id"].startswith("prj_") and demo["secret_key"].startswith("sk_")
    assert set(demo["people"]) == {"owner", "analyst", "viewer"}


@pytest.mark.parametrize("role", ["owner", "analyst", "viewer"])
def test_each_demo_person_signs_in_with_their_role(demo: dict[str, Any], role: str) -> None:
    person = demo["people"][role]
    assert person["email"] == f"{role}@demo.cxloop.dev"
    with httpx.Client(base_url=demo["url"]) as client:
        wrong = client.post("/v1/session", json={**person, "password": "not the password"})
        assert wrong.status_code == 401
        signed_in = client.post("/v1/session", json=person)
        assert signed_in.status_code == 200, signed_in.text
        projects = {p["id"]: p["role"] for p in signed_in.json()["projects"]}
        assert projects == {demo["project_id"]: role}


def test_the_portfolio_is_scored_with_a_history_and_traits(demo: dict[str, Any]) -> None:
    bearer = {"Authorization": f"Bearer {demo['secret_key']}"}
    with httpx.Client(base_url=demo["url"], headers=bearer, timeout=30) as client:
        listed = client.get("/v1/accounts", params={"limit": 1000}).json()["accounts"]
        # The story's 18 accounts and the 40 simulated ones.
        assert len(listed) == 58
        simulated = [a for a in listed if re.fullmatch(r"acct_[0-9a-f]{12}", a["account_id"])]
        assert len(simulated) == 40
        assert {a["csm"] for a in listed} <= set(CSMS) and len({a["csm"] for a in listed}) >= 4
        paid = [a for a in simulated if a["plan"] != "free"]
        assert paid and all(a["mrr"] > 0 and a["renewal_date"] for a in paid)
        assert all(date.fromisoformat(a["renewal_date"]) for a in paid)
        assert len({a["band"] for a in listed}) >= 2
        # A score per day: the 30 days backfilled from the lake, each with its change.
        history = client.get(f"/v1/accounts/{simulated[0]['account_id']}/health").json()
        days = [s["day"] for s in history["snapshots"]]
        assert len(days) >= 30 and days == sorted(days)
        assert all(s["change"] is not None for s in history["snapshots"][1:])
        # Ratings with comments in both languages, and alerts left open to work.
        comments = [
            v["comment"]
            for v in client.get("/v1/insights/verbatims", params={"limit": 1000}).json()[
                "verbatims"
            ]
        ]
        assert any(CJK.search(c) for c in comments)
        assert any(c.isascii() and re.search(r"[a-z]{4}", c) for c in comments)
        alerts = client.get("/v1/alerts", params={"status": "open"}).json()["alerts"]
        assert alerts and all(a["status"] == "open" for a in alerts)
