"""GET /v1/insights/drivers/usage on a real server and lake: users of one feature rate higher
by construction and come first, its twin does not get double credit, the window is the days
before each rating, projects are isolated, bad input is a 400."""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bench.simulate import api as sim_api
from tests.helpers.server import Project, RunningServer

NOW = datetime.now(UTC).replace(microsecond=0)
RATED = NOW - timedelta(days=1, hours=2)
USERS = 120


def _segment(score: int) -> str:
    return "promoter" if score >= 9 else "detractor" if score <= 6 else "passive"


def _nps(scores: list[int]) -> float:
    segments = [_segment(s) for s in scores]
    return 100 * (segments.count("promoter") - segments.count("detractor")) / len(scores)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(user: str, moment: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "userId": user,
        "timestamp": _stamp(moment),
        "context": {"groupId": f"acct_{user[-2:]}"},
        **fields,
    }


def _use(user: str, feature: str, moment: datetime) -> dict[str, Any]:
    return _event(
        user, moment, type="track", event=f"{feature} used", properties={"feature": feature}
    )


def population() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Users of reports rate 9–10, the others 5–8; exports is reports' twin (the same users
    but every tenth); search is used at random. Some non-users used reports 45 days before
    rating, outside the 30-day window. Returns the events and the truth."""
    events: list[dict[str, Any]] = []
    truth: dict[str, Any] = {"scores": [], "reports": [], "exports": [], "search": []}
    for i in range(USERS):
        user = f"usr_{i:04d}"
        reports = i % 2 == 0
        exports = reports != (i % 10 == 3)  # differs for every tenth user
        search = i % 3 == 0
        score = (9, 10, 10)[i % 3] if reports else (5, 6, 7, 8)[i % 4]
        for feature, used in (("reports", reports), ("exports", exports), ("search", search)):
            if used:
                events.append(_use(user, feature, RATED - timedelta(days=3 + i % 20, hours=1)))
        if not reports and i % 4 == 1:
            events.append(_use(user, "reports", RATED - timedelta(days=45)))
        # A use after the rating does not count either.
        if not search and i % 5 == 0:
            events.append(_use(user, "search", RATED + timedelta(hours=1)))
        properties = {"survey_id": "srv_nps", "response_id": f"r{i}", "kind": "nps",
                      "score": score, "partial": False}  # fmt: skip
        events.append(
            _event(user, RATED, type="track", event="Survey Responded", properties=properties)
        )
        truth["scores"].append(score)
        for name, used in (("reports", reports), ("exports", exports), ("search", search)):
            truth[name].append(used)
    return events, truth


@pytest.fixture(scope="module")
def loaded(server: RunningServer, project: Project) -> dict[str, Any]:
    events, truth = population()
    with server.client() as client:
        for start in range(0, len(events), 200):
            answer = client.post(
                "/v1/batch", json={"batch": events[start : start + 200]}, headers=project.basic_auth
            )
            assert answer.status_code == 200, answer.text
    server.wait_for_lake({e["messageId"] for e in events}, project.id, timeout=60)
    sim_api.wait_for_responses(server.url, project.secret_key, USERS, timeout=60)
    return truth


def _drivers(server: RunningServer, project: Project, **params: Any) -> httpx.Response:
    with server.client() as client:
        return client.get("/v1/insights/drivers/usage", params=params, headers=project.bearer)


def test_the_feature_whose_users_rate_higher_comes_first(
    server: RunningServer, project: Project, loaded: dict[str, Any]
) -> None:
    period = {"from": (RATED - timedelta(days=2)).date().isoformat(), "to": NOW.date().isoformat()}
    answer = _drivers(server, project, features="search,exports,reports", **period)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["raters"] == USERS and body["metric"] == "nps" and body["ranked"]
    assert body["overall"] == pytest.approx(_nps(loaded["scores"]), abs=0.01)
    by_name = {f["feature"]: f for f in body["features"]}
    # The reference, in plain Python from what was sent.
    for name in ("reports", "exports", "search"):
        used = [s for s, u in zip(loaded["scores"], loaded[name], strict=True) if u]
        unused = [s for s, u in zip(loaded["scores"], loaded[name], strict=True) if not u]
        row = by_name[name]
        assert (row["users"], row["non_users"]) == (len(used), len(unused))
        assert row["users_metric"] == pytest.approx(_nps(used), abs=0.01)
        assert row["non_users_metric"] == pytest.approx(_nps(unused), abs=0.01)
        assert row["difference"] == pytest.approx(_nps(used) - _nps(unused), abs=0.02)
    assert body["features"][0]["feature"] == "reports" and by_name["reports"]["rank"] == 1
    assert by_name["reports"]["significant"] and by_name["exports"]["significant"]
    assert not by_name["search"]["significant"]
    assert [(p["a"], p["b"]) for p in body["correlated"]] == [("exports", "reports")]

    # No double credit: reports alone explains about what the twins explain together.
    alone = _drivers(server, project, features="search,reports", **period).json()
    alone_reports = {f["feature"]: f for f in alone["features"]}["reports"]
    twins = sum(by_name[n]["share_of_r2"] * body["r_squared"] for n in ("reports", "exports"))
    assert body["r_squared"] < alone["r_squared"] * 1.1
    assert twins == pytest.approx(alone_reports["share_of_r2"] * alone["r_squared"], rel=0.1)
    assert by_name["exports"]["share_of_r2"] < by_name["reports"]["share_of_r2"]


def test_the_window_is_the_days_before_each_rating(
    server: RunningServer, project: Project, loaded: dict[str, Any]
) -> None:
    period = {"from": (RATED - timedelta(days=2)).date().isoformat(), "to": NOW.date().isoformat()}
    # 10 days: only uses 3–10 days before the rating count.
    body = _drivers(server, project, features="reports", window_days=10, **period).json()
    expected = sum(1 for i in range(USERS) if i % 2 == 0 and 3 + i % 20 < 10)
    assert body["features"][0]["users"] == expected
    # 60 days: the old uses by non-users (45 days before) count too.
    body = _drivers(server, project, features="reports", window_days=60, **period).json()
    assert body["features"][0]["users"] == USERS // 2 + sum(
        1 for i in range(USERS) if i % 2 == 1 and i % 4 == 1
    )


def test_default_features_and_exports(
    server: RunningServer, project: Project, loaded: dict[str, Any]
) -> None:
    period = {"from": (RATED - timedelta(days=2)).date().isoformat(), "to": NOW.date().isoformat()}
    body = _drivers(server, project, **period).json()
    # No configuration: the features used by the most accounts in the 30 days up to 'to'.
    assert {f["feature"] for f in body["features"]} == {"reports", "exports", "search"}
    answer = _drivers(server, project, format="csv", features="reports,exports", **period)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r["feature"] for r in rows] == ["reports", "exports"]
    assert rows[0]["rank"] == "1" and math.isfinite(float(rows[0]["share_of_r2"]))
    answer = _drivers(server, project, format="parquet", features="reports", **period)
    assert answer.status_code == 200 and answer.content[:4] == b"PAR1"


def test_another_project_sees_nothing_of_it(
    server: RunningServer, project: Project, other_project: Project, loaded: dict[str, Any]
) -> None:
    body = _drivers(server, other_project, features="reports,exports").json()
    assert body["raters"] == 0 and body["overall"] is None and not body["ranked"]
    assert all(f["users"] == 0 and f["non_users"] == 0 for f in body["features"])
    body = _drivers(server, other_project).json()
    assert body["features"] == [] and any("no key features" in n for n in body["notes"])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"kind": "stars"}, None),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "invalid_period"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "invalid_period"),
        ({"to": "0001-01-01"}, "invalid_period"),
        ({"from": "1999-12-31", "to": "2000-01-31"}, "invalid_period"),
        ({"from": "yesterday"}, None),
        ({"window_days": 0}, None),
        ({"window_days": 400}, None),
        ({"features": "reports,,search"}, "invalid_features"),
        ({"features": "x" * 201}, "invalid_features"),
        ({"features": ",".join(f"f{i}" for i in range(51))}, "invalid_features"),
        ({"format": "xlsx"}, None),
        ({"segment": "plan"}, None),
    ],
)
def test_bad_input_is_a_400_that_says_what_to_do(
    server: RunningServer, project: Project, params: dict[str, Any], code: str | None
) -> None:
    answer = _drivers(server, project, **params)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["message"]
    if code is not None:
        assert body["code"] == code


def test_the_cli_prints_the_same_answer(
    server: RunningServer, project: Project, module_database_url: str, loaded: dict[str, Any]
) -> None:
    from click.testing import CliRunner

    from cxloop.insights.drivers_cli import drivers_command

    since, until = (RATED - timedelta(days=2)).date().isoformat(), NOW.date().isoformat()
    db = ["--database-url", module_database_url, "--data-dir", str(server.data_dir)]
    period = ["--from", since, "--to", until, "--features", "search,exports,reports"]
    runner = CliRunner()
    as_json = runner.invoke(drivers_command, ["--project", "acme", *period, "--json", *db])
    assert as_json.exit_code == 0, as_json.output
    api_answer = _drivers(
        server, project, features="search,exports,reports", **{"from": since, "to": until}
    ).json()
    assert json.loads(as_json.output) == api_answer
    table = runner.invoke(drivers_command, ["--project", project.id, *period, *db])
    assert table.exit_code == 0, table.output
    assert "reports" in table.output and "correlated: exports and reports" in table.output
    bad = runner.invoke(drivers_command, ["--project", "nobody", *period, *db])
    assert bad.exit_code != 0 and "no project 'nobody'" in bad.output
    bad = runner.invoke(drivers_command, ["--project", "acme", "--features", "a,,b", *db])
    assert bad.exit_code != 0 and "none empty" in bad.output
