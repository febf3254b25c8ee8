"""Ingest → lake → rollups → scores → the CS API, on a real server."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.server import Project, RunningServer

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
FEATURES = ["reports", "exports", "alerts", "search", "dashboards"]


def _event(days_ago: int, **fields: Any) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "timestamp": (NOW - timedelta(days=days_ago)).isoformat(),
        **fields,
    }


def account_history(account: str, seats: int, users: int, healthy: bool) -> list[dict[str, Any]]:
    """60 days: the healthy account uses every feature daily; the other fades out."""
    events = []
    for u in range(users):
        user = f"{account}-u{u}"
        events.append(_event(60, type="identify", userId=user, traits={"email": f"{user}@x.io"}))
        events.append(
            _event(60, type="group", userId=user, groupId=account,
                   traits={"name": account.title(), "plan": "pro", "seats": seats})
        )  # fmt: skip
    for day in range(60, -1, -1):
        if not healthy and day < 20:
            continue  # stopped using the product three weeks ago
        active = users if healthy else max(1, users // 3)
        for u in range(active):
            features = FEATURES if healthy else FEATURES[:1]
            for feature in features:
                events.append(
                    _event(day, type="track", userId=f"{account}-u{u}", event="Feature Used",
                           properties={"feature": feature})
                )  # fmt: skip
    return events


@pytest.fixture(scope="module")
def scored(server: RunningServer, project: Project) -> dict[str, Any]:
    events = account_history("acct_good", seats=5, users=5, healthy=True)
    events += account_history("acct_bad", seats=20, users=6, healthy=False)
    survey = {"survey_id": "s1", "kind": "nps", "partial": False}
    for i in range(4):
        events.append(
            _event(2, type="track", event="Survey Responded", userId=f"acct_bad-u{i}",
                   context={"groupId": "acct_bad"},
                   properties={**survey, "response_id": f"bad{i}", "score": 2})
        )  # fmt: skip
    with server.client(headers=project.basic_auth) as client:
        for start in range(0, len(events), 500):
            answer = client.post("/v1/batch", json={"batch": events[start : start + 500]})
            assert answer.status_code == 200 and not answer.json()["rejected"], answer.text
    with server.client(headers=project.bearer, timeout=120) as client:
        refreshed = client.post("/v1/health/refresh")
        assert refreshed.status_code == 200, refreshed.text
        return dict(refreshed.json())


def api(server: RunningServer, project: Project) -> httpx.Client:
    return server.client(headers=project.bearer)


def test_refresh_includes_everything_acked_before_it(scored: dict[str, Any]) -> None:
    assert scored["accounts"] == 2
    assert scored["rollup"]["partitions"] >= 60


def test_the_fading_account_scores_lower_with_reasons(
    server: RunningServer, project: Project, scored: dict[str, Any]
) -> None:
    with api(server, project) as client:
        accounts = client.get("/v1/accounts", params={"sort": "score"}).json()["accounts"]
        assert [a["account_id"] for a in accounts] == ["acct_bad", "acct_good"]
        bad, good = accounts
        assert bad["band"] == "red" and good["band"] == "green", accounts
        assert good["score"] > bad["score"] + 40
        detail = client.get("/v1/accounts/acct_bad").json()
    health = detail["health"]
    assert detail["traits"]["seats"] == 20
    components = {c["name"]: c for c in health["components"]}
    assert set(components) == {"adoption", "utilisation", "depth", "trend", "recency", "feedback"}
    assert components["recency"]["raw"] == 20
    utilisation = components["utilisation"]["detail"]
    assert utilisation["active_users_30d"] == 2 and utilisation["seats"] == 20
    # Its seats are used far less often than the median account's (two accounts: the median
    # lies between them).
    assert utilisation["user_days_vs_median"] < 0.5
    assert components["feedback"]["detail"]["detractors"] == 4
    # Contributions add up to the score; this account is so far in the red on several
    # components that their sum is below zero, which shows as 0.
    total = sum(c["contribution"] for c in components.values())
    assert health["score"] == 0 and total < 0
    assert min(components.values(), key=lambda c: c["contribution"])["name"] in {"trend", "recency"}
    assert abs(sum(c["weight"] for c in components.values()) - 1) < 1e-3
    drivers = health["drivers"]
    assert drivers[0] == "▼ usage down 100% against its own baseline", drivers
    assert any(d.startswith("▼ 2 active users for 20 licensed seats in 30 days") for d in drivers)
    assert components["trend"]["detail"]["significant"] is True


def test_filters_history_usage_and_config(
    server: RunningServer, project: Project, scored: dict[str, Any]
) -> None:
    with api(server, project) as client:
        red = client.get("/v1/accounts", params={"band": "red"}).json()["accounts"]
        assert [a["account_id"] for a in red] == ["acct_bad"]
        first = client.get("/v1/accounts", params={"limit": 1, "sort": "-score"}).json()
        assert first["accounts"][0]["account_id"] == "acct_good" and first["next_cursor"]
        second = client.get(
            "/v1/accounts", params={"limit": 1, "sort": "-score", "cursor": first["next_cursor"]}
        ).json()
        assert second["accounts"][0]["account_id"] == "acct_bad" and second["next_cursor"] is None
        history = client.get("/v1/accounts/acct_good/health").json()["snapshots"]
        assert len(history) == 1 and history[0]["band"] == "green"
        usage = client.get(
            "/v1/accounts/acct_good/usage",
            params={"from": (NOW - timedelta(days=1)).date().isoformat()},
        ).json()["usage"]
        assert {u["feature"] for u in usage} == set(FEATURES)
        assert all(u["active_users"] == 5 for u in usage)
        config = client.get("/v1/health/config").json()
        assert config["green_at"] == 60
        bad = client.put("/v1/health/config", json={**config, "weights": {"vibes": 1}})
        assert bad.status_code == 400 and "unknown: vibes" in bad.json()["message"]
        strict = client.put("/v1/health/config", json={**config, "green_at": 99})
        assert strict.status_code == 200
        client.post("/v1/health/refresh")
        good = client.get("/v1/accounts/acct_good").json()["health"]
        assert good["band"] == "yellow" or good["score"] >= 99
        client.put("/v1/health/config", json=config)


def test_another_projects_key_sees_nothing(
    server: RunningServer, other_project: Project, scored: dict[str, Any]
) -> None:
    with api(server, other_project) as client:
        assert client.get("/v1/accounts").json()["accounts"] == []
        assert client.get("/v1/accounts/acct_good").status_code == 404
        assert client.get("/v1/accounts/acct_good/health").json()["snapshots"] == []
        assert client.get("/v1/accounts/acct_good/usage").json()["usage"] == []
    with server.client() as anonymous:
        assert anonymous.post("/v1/health/refresh").status_code == 401


def test_cli_scores_and_calibrates_against_marked_churn(
    server: RunningServer, project: Project, module_database_url: str, scored: dict[str, Any]
) -> None:
    from click.testing import CliRunner

    from cxloop.health.cli import score_command

    db = ["--database-url", module_database_url, "--data-dir", str(server.data_dir)]
    runner = CliRunner()
    result = runner.invoke(score_command, ["--project", project.id, *db])
    assert result.exit_code == 0, result.output
    assert f"{project.id}: 2 accounts scored" in result.output
    assert "0 lake partitions rolled up" in result.output  # nothing changed since the refresh

    too_few = runner.invoke(score_command, ["--project", project.id, "--calibrate", *db])
    assert "cannot calibrate: 0 churned" in too_few.output, too_few.output
    # The vendor marks the fading account churned (a group trait, as from their CRM).
    with server.client(headers=project.basic_auth) as client:
        client.post("/v1/group", json={"userId": "crm", "groupId": "acct_bad",
                                       "traits": {"status": "churned"},
                                       "messageId": str(uuid.uuid4())})  # fmt: skip
    with server.client(headers=project.bearer, timeout=120) as client:
        assert client.post("/v1/health/refresh").status_code == 200
    calibrated = runner.invoke(
        score_command, ["--project", project.id, "--calibrate", "--horizon-days", "0", *db]
    )
    assert calibrated.exit_code == 0, calibrated.output
    assert "1 churned vs 1 other accounts" in calibrated.output
    assert "current weights:    1.000" in calibrated.output

    applied = runner.invoke(
        score_command,
        ["--project", project.id, "--calibrate", "--horizon-days", "0", "--apply", *db],
    )
    assert applied.exit_code == 0 and "saved as the project's weights" in applied.output
    # Saving the weights is a configuration change: audited, signed by the CLI.
    with api(server, project) as client:
        entries = client.get("/v1/audit", params={"action": "health_config"}).json()["entries"]
    assert entries[0]["actor_kind"] == "cli" and entries[0]["details"]["by"] == "calibration"


def test_export_for_bi_tools_and_the_accounts_responses(
    server: RunningServer, project: Project, scored: dict[str, Any]
) -> None:
    import io

    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    with api(server, project) as client:
        csv = client.get("/v1/accounts/export", params={"format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        table = pa_csv.read_csv(io.BytesIO(csv.content))
        assert sorted(table.column("account_id").to_pylist()) == ["acct_bad", "acct_good"]
        assert "trend_normalised" in table.column_names and "feedback_raw" in table.column_names
        parquet = client.get("/v1/accounts/export", params={"format": "parquet"})
        from_parquet = pq.read_table(io.BytesIO(parquet.content))
        assert from_parquet.num_rows == 2
        assert set(from_parquet.column("band").to_pylist()) <= {"green", "yellow", "red"}
        responses = client.get("/v1/accounts/acct_bad/responses").json()["responses"]
        assert sorted(r["response_id"] for r in responses) == ["bad0", "bad1", "bad2", "bad3"]


def test_band_changes_and_drops_are_queued_for_webhooks_once_per_day(
    server: RunningServer, module_database_url: str
) -> None:
    import asyncio

    import asyncpg
    from click.testing import CliRunner

    from cxloop.health.cli import score_command
    from tests.helpers.server import create_project

    hooks = create_project(module_database_url, "health-hooks")
    events = account_history("acct_hook", seats=5, users=5, healthy=True)
    with server.client(headers=hooks.basic_auth) as client:
        for start in range(0, len(events), 500):
            assert client.post("/v1/batch", json={"batch": events[start : start + 500]}).is_success

    async def sql(query: str, *args: Any) -> list[Any]:
        conn = await asyncpg.connect(module_database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    asyncio.run(sql(
        "INSERT INTO webhooks (project_id, id, url, secret, events) VALUES ($1, 'whk_health', "
        "'http://127.0.0.1:9/hook', 'whsec_x', '{health.band_changed,health.dropped}')",
        hooks.id,
    ))  # fmt: skip
    with server.client(headers=hooks.bearer, timeout=120) as client:
        assert client.post("/v1/health/refresh").status_code == 200  # everything acked is in
        yesterday = (NOW - timedelta(days=1)).date().isoformat()
        db = ["--database-url", module_database_url, "--data-dir", str(server.data_dir)]
        result = CliRunner().invoke(
            score_command, ["--project", hooks.id, "--as-of", yesterday, *db]
        )
        assert result.exit_code == 0, result.output
        config = client.get("/v1/health/config").json()
        # The vendor raises the bar: today the same account is no longer green.
        client.put("/v1/health/config", json={**config, "green_at": 99.5, "drop_threshold": 0})
        for _ in range(2):  # the hourly schedule refreshes the same day again
            assert client.post("/v1/health/refresh").status_code == 200
        account = client.get("/v1/accounts/acct_hook").json()["health"]
    rows = asyncio.run(sql(
        "SELECT event_type, payload::text AS payload FROM webhook_deliveries "
        "WHERE project_id = $1 ORDER BY event_type", hooks.id,
    ))  # fmt: skip
    import json

    payload = json.loads(rows[0]["payload"])
    # Exactly once per kind and day, however often the day is refreshed; a drop only when
    # the score went down (the threshold is 0 here).
    expected = ["health.band_changed"] + (["health.dropped"] if payload["change"] < 0 else [])
    assert [r["event_type"] for r in rows] == expected, rows
    assert payload["account_id"] == "acct_hook"
    assert (
        payload["old"]["band"] == "green" and payload["new"]["band"] == account["band"] == "yellow"
    )
    assert payload["drivers"] == account["drivers"]


def test_an_account_gone_silent_is_scored_red_not_left_out(
    server: RunningServer, module_database_url: str
) -> None:
    from tests.helpers.server import create_project

    quiet = create_project(module_database_url, "quiet")
    events = account_history("acct_busy", seats=3, users=3, healthy=True)
    # Known from a group call 120 days ago, never used since.
    events.append(_event(120, type="group", userId="ghost", groupId="acct_ghost",
                         traits={"name": "Ghost Ltd", "seats": 10}))  # fmt: skip
    with server.client(headers=quiet.basic_auth) as client:
        for start in range(0, len(events), 500):
            assert client.post("/v1/batch", json={"batch": events[start : start + 500]}).is_success
    with server.client(headers=quiet.bearer, timeout=120) as client:
        assert client.post("/v1/health/refresh").json()["accounts"] == 2
        accounts = client.get("/v1/accounts", params={"sort": "score"}).json()["accounts"]
        assert [a["account_id"] for a in accounts] == ["acct_ghost", "acct_busy"]
        ghost = client.get("/v1/accounts/acct_ghost").json()["health"]
    assert ghost["band"] == "red" and ghost["confidence"] == "low"
    assert "▼ no activity in 90 days" in ghost["drivers"] or any(
        "0 active users for 10 licensed seats" in d for d in ghost["drivers"]
    ), ghost["drivers"]


# -- hostile input from the public write key (issue 12) ----------------------------------------


def _raw_event(days_ago: int, body: str) -> str:
    """One event as raw JSON text (escapes such as \\u0000 and numbers such as 1e400 are sent
    exactly as written); ``body`` holds its other members."""
    stamp = (NOW - timedelta(days=days_ago)).isoformat()
    return f'{{"messageId": "{uuid.uuid4()}", "timestamp": "{stamp}", {body}}}'


def _deep(levels: int) -> str:
    return "[" * levels + '"\\u0000"' + "]" * levels


async def _fetch(database_url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def test_hostile_values_from_the_write_key_never_break_projection_or_health(
    server: RunningServer, module_database_url: str
) -> None:
    import asyncio

    from tests.helpers.server import create_project

    hostile = create_project(module_database_url, "hostile")
    long_account = secrets.token_hex(3040)  # 6,080 random characters: too long for an index
    # Each entry: (must ingest accept it, the event). Ingest keeps free-form JSON as sent, so
    # NUL escapes reach the pipeline; it may refuse (typed) what it judges out of bounds:
    # unpaired surrogates, numbers a double cannot hold, deep nesting.
    events = [
        (True, _raw_event(30, '"type": "identify", "userId": "u_ok", "traits": {"email": "o@x.io"}')),
        (True, _raw_event(30, '"type": "group", "userId": "u_ok", "groupId": "acct_ok", '
                              '"traits": {"name": "Ok", "seats": 3}')),
        (True, _raw_event(30, '"type": "identify", "userId": "u_nul", '
                              '"traits": {"email": "x\\u0000@y.io", "k\\u0000": "v"}')),
        (True, _raw_event(30, '"type": "group", "userId": "u_nul", "groupId": "acct_nul", '
                              '"traits": {"name": "Nul\\u0000Co"}, "context": {"note": "\\u0000"}')),
        # A feature name with NUL reaches the health components (jsonb refuses NUL escapes).
        *[(True, _raw_event(day, '"type": "track", "userId": "u_nul", "event": "Feature Used", '
                                 '"properties": {"feature": "rep\\u0000orts"}, '
                                 '"context": {"groupId": "acct_nul", "page": {"title": "\\u0000"}}'))
          for day in range(1, 10)],
        *[(True, _raw_event(day, '"type": "track", "userId": "u_ok", "event": "Feature Used", '
                                 '"context": {"groupId": "acct_ok"}, '
                                 '"properties": {"feature": "reports"}'))
          for day in range(1, 10)],
        # A rating from another tool: no response_id, no context.groupId.
        (True, _raw_event(1, '"type": "track", "userId": "u_nul", "event": "Survey Responded", '
                             '"properties": {"survey_id": "t", "kind": "nps", "score": 3, "comment": "bad\\u0000"}')),
        # An account id PostgreSQL cannot index: its events are quarantined by the projection,
        # its health snapshot is refused, and neither may hold back anything else.
        *[(True, _raw_event(day, '"type": "track", "userId": "u_long", "event": "Feature Used", '
                                 f'"context": {{"groupId": "{long_account}"}}'))
          for day in (1, 2)],
        (False, _raw_event(2, '"type": "track", "userId": "u_ok", "event": "Big Numbers", '
                              '"context": {"groupId": "acct_ok", "n": 1e400}, "properties": '
                              '{"n": 1e400, "i": 1' + "0" * 400 + ', "m": -1e999999}')),
        (False, _raw_event(2, '"type": "group", "userId": "u_big", "groupId": "acct_ok", '
                              '"traits": {"arr": 1e400, "i": -1' + "0" * 400 + "}")),
        (False, _raw_event(2, '"type": "identify", "userId": "u_sur", '
                              '"traits": {"k": "\\udc00 \\ud800", "ok": "\\ud83d\\ude00"}')),
        (False, _raw_event(2, '"type": "track", "userId": "u_sur", "event": "Feature Used", '
                              '"properties": {"feature": "x\\ud800"}, "context": {"groupId": "acct_ok"}')),
        (False, _raw_event(2, '"type": "identify", "userId": "u_deep", '
                              f'"traits": {{"deep": {_deep(60)}}}, "context": {{"d": {_deep(60)}}}')),
    ]  # fmt: skip
    accepted: set[str] = set()
    with server.client(headers=hostile.basic_auth) as client:
        for must_accept, event in events:
            answer = client.post(
                "/v1/batch",
                content=('{"batch": [' + event + "]}").encode(),
                headers={"Content-Type": "application/json"},
            )
            assert answer.status_code in (200, 400), answer.text  # never a 500
            if answer.status_code == 400:
                assert answer.json()["code"] and not must_accept, (answer.text, event[:200])
                continue
            rejected = answer.json()["rejected"]
            assert all(r.get("reason") for r in rejected), rejected  # typed, never silent
            assert not (must_accept and rejected), (rejected, event[:200])
            if not rejected:
                sent = json.loads(event)
                accepted.add(f"{sent['type']} {sent['userId']}")

    with server.client(headers=hostile.bearer, timeout=120) as client:
        for _ in range(2):  # the second refresh compares with the first's snapshots
            refreshed = client.post("/v1/health/refresh")
            assert refreshed.status_code == 200, refreshed.text
            # The account PostgreSQL cannot index is named, the others are written.
            assert refreshed.json()["failed_accounts"] == [long_account]
            assert refreshed.json()["accounts"] == 2
        listed = client.get("/v1/accounts")
        assert listed.status_code == 200, listed.text
        scores = {a["account_id"]: a["score"] for a in listed.json()["accounts"]}
        assert {"acct_ok", "acct_nul"} <= set(scores), scores
        assert all(isinstance(s, int | float) for s in scores.values())
        assert long_account not in scores  # refused, skipped, and nothing else held back
        assert client.get("/v1/health/config").status_code == 200
        for account in ("acct_ok", "acct_nul"):
            for path in ("", "/health", "/usage", "/responses"):
                got = client.get(f"/v1/accounts/{account}{path}")
                assert got.status_code == 200, (path, got.text)
        detail = client.get("/v1/accounts/acct_nul").json()
        adoption = {c["name"]: c for c in detail["health"]["components"]}["adoption"]
        assert "rep\ufffdorts" in adoption["detail"]["used"]
        responses = client.get("/v1/accounts/acct_nul/responses").json()["responses"]
        assert [(r["score"], r["comment"]) for r in responses] == [(3, "bad\ufffd")]
        # The feature name as shown can be configured as a key feature, and it matches.
        config = client.get("/v1/health/config").json()
        configured = client.put(
            "/v1/health/config", json={**config, "key_features": ["rep\ufffdorts", "exports"]}
        )
        assert configured.status_code in (200, 201), configured.text
        assert client.post("/v1/health/refresh").status_code == 200
        detail = client.get("/v1/accounts/acct_nul").json()
        adoption = {c["name"]: c for c in detail["health"]["components"]}["adoption"]
        assert adoption["detail"] == {"used": ["rep\ufffdorts"], "key_features": 2}

    def query(sql: str, *args: Any) -> list[Any]:
        return asyncio.run(_fetch(module_database_url, sql, *args))

    users = {
        r["user_id"]: json.loads(r["traits"])
        for r in query("SELECT user_id, traits::text FROM users WHERE project_id = $1", hostile.id)
    }
    assert users["u_nul"] == {"email": "x\ufffd@y.io", "k\ufffd": "v"}
    if "identify u_sur" in accepted:
        assert users["u_sur"] == {"k": "\ufffd \ufffd", "ok": "\U0001f600"}
    if "group u_big" in accepted:
        assert "u_big" in users
    if "identify u_deep" in accepted:
        assert "u_deep" in users
    [nul_account] = query(
        "SELECT traits->>'name' AS name FROM accounts "
        "WHERE project_id = $1 AND account_id = 'acct_nul'",
        hostile.id,
    )
    assert nul_account["name"] == "Nul\ufffdCo"
    [response] = query(
        "SELECT response_id, message_id, account_id FROM survey_responses WHERE project_id = $1",
        hostile.id,
    )
    assert response["response_id"] == response["message_id"]  # the messageId stands in
    assert response["account_id"] == "acct_nul"  # through u_nul's group call
    quarantined = query(
        "SELECT reason FROM projection_quarantine WHERE project_id = $1", hostile.id
    )
    assert [q["reason"] for q in quarantined] == ["database_refused"] * 2


def test_one_projects_damaged_lake_file_holds_back_no_other_project(
    database_url: str, tmp_path: Path
) -> None:
    # A damaged Parquet file (a disk fault) makes one project's scheduled refresh fail: it is
    # logged, counted and retried, while the other project is scored and the pipeline keeps
    # compacting and projecting. A refused event is counted as quarantined.
    import re
    import time

    from tests.helpers.server import create_project, running_server

    damaged, healthy = create_project(database_url, "damaged"), create_project(database_url, "ok")
    with running_server(tmp_path / "data", database_url, health_refresh_s=0.5) as server:
        for project, account in ((damaged, "acct_d"), (healthy, "acct_h")):
            events = account_history(account, seats=3, users=2, healthy=True)[:40]
            with server.client(headers=project.basic_auth) as client:
                assert client.post("/v1/batch", json={"batch": events}).status_code == 200
            server.wait_for_lake({e["messageId"] for e in events}, project.id)
        day_dir = next(
            (server.data_dir / "lake" / "events").glob(f"project_id={damaged.id}/date=*")
        )
        (day_dir / "zz-damaged.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
        refused = _event(1, type="track", userId="u_x", event="Feature Used",
                         context={"groupId": secrets.token_hex(3040)})  # fmt: skip
        later = _event(1, type="track", userId="acct_h-u0", event="Feature Used",
                       context={"groupId": "acct_h"})  # fmt: skip
        with server.client(headers=healthy.basic_auth) as client:
            assert client.post("/v1/batch", json={"batch": [refused, later]}).status_code == 200
        server.wait_for_lake({later["messageId"]}, healthy.id)

        deadline = time.monotonic() + 60
        accounts: list[Any] = []
        errors = quarantined = 0.0
        with server.client(headers=healthy.bearer) as client:
            while time.monotonic() < deadline and not (accounts and errors and quarantined):
                accounts = client.get("/v1/accounts").json()["accounts"]
                metrics = client.get("/metrics").text
                errors = _metric(metrics, "cxloop_health_refresh_errors_total")
                quarantined = _metric(metrics, "cxloop_projection_quarantined_total")
                time.sleep(0.3)
        assert [a["account_id"] for a in accounts] == ["acct_h"], server.log()[-3000:]
        assert errors >= 1 and quarantined == 1, metrics
        assert re.search(f"health refresh of {damaged.id} failed", server.log())


def _metric(text: str, name: str) -> float:
    import re

    found = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0
