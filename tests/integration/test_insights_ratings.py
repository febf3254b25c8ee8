"""GET /v1/insights/ratings and /v1/insights/ratings/change on a real server and database.

Generated NPS ratings (written straight into PostgreSQL) have a shared dip in every plan ×
feature cell and an extra drop in one (pro × exports): compare=previous flags the dip,
compare=rest flags only pro × exports, a tiny segment is never flagged. Numbers are checked
against references computed here in plain Python from the same rows. One flow goes through
ingest so the context columns are proven end to end.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pyarrow.parquet as pq
import pytest

from tests.helpers.server import Project, RunningServer

SINCE, UNTIL = date(2026, 10, 5), date(2026, 11, 1)  # 28 days, Monday to Sunday
BEFORE_FROM, BEFORE_TO = date(2026, 9, 7), date(2026, 10, 4)  # the 28 days before
PLANS, FEATURES = ("enterprise", "free", "pro"), ("exports", "reports", "search")
PER_CELL = 300  # ratings per plan × feature cell per window
TRIAL = 6  # ratings of the tiny "trial" plan per window
Z = 1.96


def _mix(promoters: float, detractors: float, n: int) -> list[int]:
    """n NPS scores with exactly these shares, in a fixed interleaved order."""
    p, d = round(promoters * n), round(detractors * n)
    scores = [10 if i % 2 else 9 for i in range(p)] + [i % 7 for i in range(d)]
    scores += [7 + i % 2 for i in range(n - p - d)]
    return [scores[(i * 37) % n] for i in range(n)]  # 37 is prime to 300: a permutation


def generated_rows(project_id: str) -> list[tuple[Any, ...]]:
    """(response_id, score, plan, feature, responded_at, locale) of every generated rating."""
    rows = []
    for window, start in (("before", BEFORE_FROM), ("now", SINCE)):
        cells = [(plan, feature) for plan in PLANS for feature in FEATURES]
        for plan, feature in [*cells, ("trial", "reports")]:
            n = TRIAL if plan == "trial" else PER_CELL
            if window == "before":
                shares = (0.5, 0.2)  # NPS 30
            elif (plan, feature) == ("pro", "exports"):
                shares = (0.3, 0.5)  # NPS −20: the shared dip and 30 points more
            elif plan == "trial":
                shares = (0.0, 1.0)  # −100, but only six ratings
            else:
                shares = (0.4, 0.3)  # NPS 10: the shared 20-point dip
            for i, score in enumerate(_mix(*shares, n)):
                at = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(
                    minutes=(i * 134_000 // n) % (28 * 24 * 60)
                )
                rows.append(
                    (f"{window}-{plan}-{feature}-{i}", score, plan, feature, at,
                     "zh-CN" if i % 3 else "en")
                )  # fmt: skip
    return rows


async def _load(database_url: str, project_id: str, rows: list[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table(
            "survey_responses",
            columns=[
                "project_id", "response_id", "survey_id", "kind", "score", "feature", "user_id",
                "account_id", "partial", "message_id", "responded_at", "updated_at", "locale",
                "plan",
            ],
            records=[
                (project_id, rid, "srv_gen", "nps", float(score), feature, f"u_{rid}",
                 f"acc_{plan}", False, rid, at, at, locale, plan)
                for rid, score, plan, feature, at, locale in rows
            ],
        )  # fmt: skip
        # Survey Shown: twice as many as ratings for every cell of the current window.
        shown = [
            (project_id, f"shown-{rid}-{k}", "shown", "srv_gen", "nps", feature, plan, at)
            for rid, _, plan, feature, at, _ in rows
            if rid.startswith("now-")
            for k in range(2)
        ]
        await conn.copy_records_to_table(
            "survey_impressions",
            columns=["project_id", "message_id", "event", "survey_id", "kind", "feature", "plan",
                     "occurred_at"],
            records=shown,
        )  # fmt: skip
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def generated(server: RunningServer, project: Project, module_database_url: str) -> list[Any]:
    rows = generated_rows(project.id)
    asyncio.run(_load(module_database_url, project.id, rows))
    return rows


def _get(server: RunningServer, project: Project, path: str, **params: Any) -> httpx.Response:
    with server.client() as client:
        return client.get(f"/v1/insights/ratings{path}", params=params, headers=project.bearer)


def _ok(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# -- references, written out here ------------------------------------------------------------


def _segment(score: int) -> str:
    return "promoter" if score >= 9 else "detractor" if score <= 6 else "passive"


def _nps_reference(scores: list[int]) -> dict[str, float]:
    n = len(scores)
    p = sum(_segment(s) == "promoter" for s in scores)
    d = sum(_segment(s) == "detractor" for s in scores)
    n_adj = n + Z * Z / 2
    pa, da = (p + Z * Z / 4) / n_adj, (d + Z * Z / 4) / n_adj
    half = Z * math.sqrt((pa + da - (pa - da) ** 2) / n_adj)
    return {
        "n": n,
        "promoters": p,
        "detractors": d,
        "metric": 100 * (p - d) / n,
        "low": max(-100, 100 * (pa - da - half)),
        "high": min(100, 100 * (pa - da + half)),
        "variance": 1e4 * (p / n + d / n - ((p - d) / n) ** 2) / n,
    }


def _in(at: datetime, start: date, end: date) -> bool:
    return start <= at.date() <= end


# -- the ratings route -----------------------------------------------------------------------


def test_weekly_metric_by_plan_and_feature_matches_the_reference(
    server: RunningServer, project: Project, generated: list[Any]
) -> None:
    body = _ok(
        _get(server, project, "", kind="nps", period="week", group_by="plan,feature",
             **{"from": SINCE.isoformat(), "to": UNTIL.isoformat()})
    )  # fmt: skip
    assert body["group_by"] == ["plan", "feature"] and body["kind"] == "nps"
    expected: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for _, score, plan, feature, at, _ in generated:
        if _in(at, SINCE, UNTIL):
            monday = at.date() - timedelta(days=at.weekday())
            expected[(monday.isoformat(), plan, feature)].append(score)
    got = {(r["period"], r["groups"]["plan"], r["groups"]["feature"]): r for r in body["rows"]}
    assert set(got) == set(expected)
    for key, scores in expected.items():
        reference, row = _nps_reference(scores), got[key]
        assert (row["n"], row["promoters"], row["detractors"]) == (
            reference["n"], reference["promoters"], reference["detractors"],
        )  # fmt: skip
        for name in ("metric", "low", "high"):
            assert row[name] == pytest.approx(reference[name], abs=1e-3), (key, name)
        assert row["shown"] == 2 * row["n"] and row["response_rate"] == pytest.approx(0.5)
    # Rows come in period order.
    periods = [r["period"] for r in body["rows"]]
    assert periods == sorted(periods)


def test_headline_filters_and_min_n(
    server: RunningServer, project: Project, generated: list[Any]
) -> None:
    window = {"from": SINCE.isoformat(), "to": UNTIL.isoformat()}
    [row] = _ok(_get(server, project, "", kind="nps", period="all", **window))["rows"]
    now = [s for _, s, _, _, at, _ in generated if _in(at, SINCE, UNTIL)]
    assert row["n"] == len(now) and row["period"] == SINCE.isoformat() and row["groups"] == {}
    assert row["metric"] == pytest.approx(_nps_reference(now)["metric"], abs=1e-3)
    filtered = _ok(
        _get(server, project, "", kind="nps", period="all", plan="pro", locale="en",
             group_by="feature", **window)
    )["rows"]  # fmt: skip
    for r in filtered:
        scores = [s for _, s, plan, feature, at, locale in generated
                  if plan == "pro" and locale == "en" and feature == r["groups"]["feature"]
                  and _in(at, SINCE, UNTIL)]  # fmt: skip
        assert r["n"] == len(scores)
    by_plan = _ok(_get(server, project, "", kind="nps", period="all", group_by="plan",
                       min_n=10, **window))["rows"]  # fmt: skip
    assert sorted(r["groups"]["plan"] for r in by_plan) == list(PLANS)  # trial (6) left out
    nothing = _ok(_get(server, project, "", kind="csat", period="all", **window))["rows"]
    assert nothing == []


def test_exports_are_the_json_rows(
    server: RunningServer, project: Project, generated: list[Any]
) -> None:
    params = {"kind": "nps", "period": "week", "group_by": "plan,feature",
              "from": SINCE.isoformat(), "to": UNTIL.isoformat()}  # fmt: skip
    rows = _ok(_get(server, project, "", **params))["rows"]
    answer = _get(server, project, "", format="csv", **params)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    read = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert list(read[0]) == ["period", "plan", "feature", "n", "promoters", "passives",
                             "detractors", "metric", "low", "high", "low_effort", "shown",
                             "response_rate"]  # fmt: skip
    assert len(read) == len(rows)
    for line, row in zip(read, rows, strict=True):
        assert (line["period"], line["plan"], line["feature"]) == (
            row["period"], row["groups"]["plan"], row["groups"]["feature"],
        )  # fmt: skip
        assert int(line["n"]) == row["n"] and float(line["metric"]) == row["metric"]
    answer = _get(server, project, "", format="parquet", **params)
    assert answer.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(answer.content)).to_pylist()
    assert [(t["plan"], t["feature"], t["n"], t["metric"]) for t in table] == [
        (r["groups"]["plan"], r["groups"]["feature"], r["n"], r["metric"]) for r in rows
    ]
    change = _get(server, project, "/change", format="csv", kind="nps", group_by="plan",
                  **{"from": SINCE.isoformat(), "to": UNTIL.isoformat()})  # fmt: skip
    header = next(csv.reader(io.StringIO(change.content.decode("utf-8-sig"))))
    assert header[:2] == ["plan", "current_n"] and "significant" in header


# -- the change route --------------------------------------------------------------------------


def test_compare_previous_flags_the_shared_dip_but_not_the_tiny_plan(
    server: RunningServer, project: Project, generated: list[Any]
) -> None:
    body = _ok(
        _get(server, project, "/change", kind="nps", group_by="plan",
             **{"from": SINCE.isoformat(), "to": UNTIL.isoformat()})
    )  # fmt: skip
    # The previous window defaults to the 28 days before.
    assert (body["compare_from"], body["compare_to"]) == (BEFORE_FROM.isoformat(),
                                                          BEFORE_TO.isoformat())  # fmt: skip
    rows = {r["groups"]["plan"]: r for r in body["rows"]}
    assert set(rows) == {*PLANS, "trial"}
    p_values = {}
    for plan in PLANS:
        now = _nps_reference([s for _, s, pl, _, at, _ in generated
                              if pl == plan and _in(at, SINCE, UNTIL)])  # fmt: skip
        before = _nps_reference([s for _, s, pl, _, at, _ in generated
                                 if pl == plan and _in(at, BEFORE_FROM, BEFORE_TO)])  # fmt: skip
        difference = now["metric"] - before["metric"]
        p = math.erfc(abs(difference) / math.sqrt(now["variance"] + before["variance"])
                      / math.sqrt(2))  # fmt: skip
        assert rows[plan]["difference"] == pytest.approx(difference, abs=1e-3)
        assert rows[plan]["p"] == pytest.approx(p, rel=1e-3, abs=1e-6)
        assert rows[plan]["significant"] is True
        p_values[plan] = p
    trial = rows["trial"]
    trial_now = [s for _, s, pl, _, at, _ in generated if pl == "trial" and _in(at, SINCE, UNTIL)]
    trial_before = [s for _, s, pl, _, at, _ in generated
                    if pl == "trial" and _in(at, BEFORE_FROM, BEFORE_TO)]  # fmt: skip
    expected = _nps_reference(trial_now)["metric"] - _nps_reference(trial_before)["metric"]
    assert expected < -100  # a huge drop...
    assert trial["difference"] == pytest.approx(expected, abs=1e-3)
    assert trial["p"] < 0.05  # ...with a small p, but six ratings: not significant
    assert trial["significant"] is False and "fewer than 10" in trial["note"]
    assert trial["q"] is None


def test_compare_rest_flags_only_the_segment_that_moved_more(
    server: RunningServer, project: Project, generated: list[Any]
) -> None:
    body = _ok(
        _get(server, project, "/change", kind="nps", group_by="plan,feature", compare="rest",
             **{"from": SINCE.isoformat(), "to": UNTIL.isoformat()})
    )  # fmt: skip
    flagged = [(r["groups"]["plan"], r["groups"]["feature"]) for r in body["rows"]
               if r["significant"]]  # fmt: skip
    assert flagged == [("pro", "exports")]
    rows = {(r["groups"]["plan"], r["groups"]["feature"]): r for r in body["rows"]}

    # The reference difference in differences for pro × exports.
    def nps(select: Any, start: date, end: date) -> dict[str, float]:
        return _nps_reference([s for _, s, pl, f, at, _ in generated
                               if select(pl, f) and _in(at, start, end)])  # fmt: skip

    target = lambda pl, f: (pl, f) == ("pro", "exports")  # noqa: E731
    rest = lambda pl, f: (pl, f) != ("pro", "exports")  # noqa: E731
    parts = [nps(target, SINCE, UNTIL), nps(target, BEFORE_FROM, BEFORE_TO),
             nps(rest, SINCE, UNTIL), nps(rest, BEFORE_FROM, BEFORE_TO)]  # fmt: skip
    did = (parts[0]["metric"] - parts[1]["metric"]) - (parts[2]["metric"] - parts[3]["metric"])
    half = Z * math.sqrt(sum(p["variance"] for p in parts))
    row = rows[("pro", "exports")]
    assert row["difference"] == pytest.approx(did, abs=1e-3)
    assert (row["low"], row["high"]) == pytest.approx((did - half, did + half), abs=1e-3)
    assert row["rest_change"] == pytest.approx(parts[2]["metric"] - parts[3]["metric"], abs=1e-3)
    # Every other big cell shared the dip: not significant; the tiny one has its note.
    for key, r in rows.items():
        if key != ("pro", "exports"):
            assert r["significant"] is False
    assert "fewer than 10" in rows[("trial", "reports")]["note"]
    # The same question as compare=previous flags every big cell (the dip is real).
    previous = _ok(
        _get(server, project, "/change", kind="nps", group_by="plan,feature",
             **{"from": SINCE.isoformat(), "to": UNTIL.isoformat()})
    )  # fmt: skip
    assert sum(r["significant"] for r in previous["rows"]) == len(PLANS) * len(FEATURES)


def test_another_project_sees_nothing(
    server: RunningServer, project: Project, other_project: Project, generated: list[Any]
) -> None:
    window = {"from": SINCE.isoformat(), "to": UNTIL.isoformat()}
    assert _ok(_get(server, other_project, "", kind="nps", period="all", **window))["rows"] == []
    change = _ok(_get(server, other_project, "/change", kind="nps", group_by="plan", **window))
    assert change["rows"] == []
    assert _get(server, other_project, "", kind="nps", format="csv", **window).content == (
        b"\xef\xbb\xbfperiod,n,promoters,passives,detractors,metric,low,high,low_effort,shown,"
        b"response_rate\r\n"
    )


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("", {}, "kind"),
        ("", {"kind": "stars"}, "kind"),
        ("", {"kind": "nps", "group_by": "plan,colour"}, "unknown dimension 'colour'"),
        ("", {"kind": "nps", "group_by": "plan,feature,band"}, "at most 2"),
        ("", {"kind": "nps", "group_by": "plan,plan"}, "named twice"),
        ("", {"kind": "nps", "colour": "red"}, "colour"),
        ("", {"kind": "nps", "from": "2026-13-01"}, "from"),
        ("", {"kind": "nps", "from": "2026-11-02", "to": "2026-11-01"}, "before the start"),
        ("", {"kind": "nps", "from": "2020-01-01", "to": "2026-01-01"}, "3 years"),
        ("", {"kind": "nps", "period": "year"}, "period"),
        ("", {"kind": "nps", "from": "0001-01-01", "to": "0001-01-05"}, "days from 1900-01-01"),
        ("/change", {"kind": "nps", "to": "9999-12-31"}, "to 9999-12-30"),
        ("", {"kind": "nps", "survey": "a\x00b"}, "NUL"),
        ("", {"kind": "nps", "group_by": "trait:\x00"}, "NUL"),
        ("", {"kind": "nps", "band": "purple"}, "green, yellow, red"),
        ("", {"kind": "nps", "trait": "no-colon"}, "<key>:<value>"),
        ("", {"kind": "nps", "format": "xlsx"}, "format"),
        ("/change", {"kind": "nps", "compare": "rest"}, "give group_by"),
        ("/change", {"kind": "nps", "compare_from": "2026-01-01"}, "go together"),
        ("/change", {"kind": "nps", "compare": "sideways"}, "compare"),
    ],
)
def test_bad_input_is_a_400_that_says_what_to_do(
    server: RunningServer, project: Project, path: str, params: dict[str, str], says: str
) -> None:
    answer = _get(server, project, path, **params)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) >= {"code", "message"}
    assert says in body["message"], body


# -- end to end: ingest → projection (context) → the route -------------------------------------


def _event(**fields: Any) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "timestamp": datetime.now(UTC).isoformat(), **fields}


async def _wait(database_url: str, sql: str, project_id: str, expected: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 60
        while await conn.fetchval(sql, project_id) < expected:
            assert time.monotonic() < deadline, f"timed out waiting for {sql}"
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def ingested(server: RunningServer, project: Project, module_database_url: str) -> Iterator[None]:
    async def configure() -> None:
        conn = await asyncpg.connect(module_database_url)
        await conn.execute(
            "INSERT INTO insights_config (project_id, config) VALUES ($1, $2::jsonb) "
            "ON CONFLICT (project_id) DO UPDATE SET config = excluded.config",
            project.id,
            '{"user_traits": ["role"]}',
        )
        await conn.close()

    asyncio.run(configure())
    people = [_event(type="identify", userId=f"e{i}", traits={"role": ("admin", "viewer")[i % 2]})
              for i in range(12)]  # fmt: skip
    people += [_event(type="group", userId=f"e{i}", groupId=f"co{i % 3}",
                      traits={"plan": ("gold", "silver", "gold")[i % 3]})
               for i in range(12)]  # fmt: skip
    with server.client() as client:
        answer = client.post("/v1/batch", json={"batch": people}, headers=project.basic_auth)
        assert answer.status_code == 200, answer.text
    asyncio.run(_wait(module_database_url, "SELECT count(*) FROM memberships WHERE project_id = "
                      "$1 AND user_id LIKE 'e%'", project.id, 12))  # fmt: skip
    survey_events = []
    for i in range(12):
        context = {"locale": ("zh-TW", "en")[i % 2 == 0 and i % 4 == 0],
                   "page": {"path": "/app/reports", "url": "https://x.test/app/reports"}}  # fmt: skip
        properties = {"survey_id": "srv_csat", "kind": "csat", "feature": "reports"}
        survey_events.append(_event(type="track", userId=f"e{i}", event="Survey Shown",
                                    properties={**properties, "placement": "popover"},
                                    context=context))  # fmt: skip
        survey_events.append(_event(type="track", userId=f"e{i}", event="Survey Shown",
                                    properties={**properties, "placement": "popover"},
                                    context=context))  # fmt: skip
        survey_events.append(_event(type="track", userId=f"e{i}", event="Survey Responded",
                                    properties={**properties, "response_id": f"ce{i}",
                                                "score": 1 + i % 5}, context=context))  # fmt: skip
    with server.client() as client:
        answer = client.post("/v1/batch", json={"batch": survey_events},
                             headers=project.basic_auth)  # fmt: skip
        assert answer.status_code == 200, answer.text
    asyncio.run(_wait(module_database_url, "SELECT count(*) FROM survey_responses WHERE "
                      "project_id = $1 AND kind = 'csat'", project.id, 12))  # fmt: skip
    asyncio.run(_wait(module_database_url, "SELECT count(*) FROM survey_impressions WHERE "
                      "project_id = $1 AND kind = 'csat'", project.id, 24))  # fmt: skip
    yield


def test_context_from_ingest_reaches_the_ratings(
    server: RunningServer, project: Project, ingested: None
) -> None:
    today = datetime.now(UTC).date()
    window = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    body = _ok(_get(server, project, "", kind="csat", period="all",
                    group_by="locale,trait:role", page="/app/reports", **window))  # fmt: skip
    assert body["group_by"] == ["locale", "trait:role"]
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in range(12):
        locale = ("zh-TW", "en")[i % 2 == 0 and i % 4 == 0]
        expected[(locale, ("admin", "viewer")[i % 2])].append(1 + i % 5)
    got = {(r["groups"]["locale"], r["groups"]["trait:role"]): r for r in body["rows"]}
    assert set(got) == set(expected)
    for key, scores in expected.items():
        satisfied = sum(s >= 4 for s in scores)
        assert got[key]["n"] == len(scores)
        assert got[key]["metric"] == pytest.approx(100 * satisfied / len(scores), abs=1e-3)
        assert got[key]["shown"] == 2 * len(scores)
        assert got[key]["response_rate"] == pytest.approx(0.5)
    by_plan = _ok(_get(server, project, "", kind="csat", period="all", group_by="plan",
                       trait="role:admin", **window))["rows"]  # fmt: skip
    plans = {r["groups"]["plan"]: r["n"] for r in by_plan}
    admins = [i for i in range(12) if i % 2 == 0]
    assert plans == {
        "gold": sum(1 for i in admins if i % 3 != 1),
        "silver": sum(1 for i in admins if i % 3 == 1),
    }


def test_the_daily_rollup_answers_like_the_rows(
    project: Project, module_database_url: str, generated: list[Any], ingested: None
) -> None:
    from cxloop.insights import ratings_store as store

    async def compare() -> int:
        conn = await asyncpg.connect(module_database_url)
        compared = 0
        try:
            for kind, period, dims in [
                ("nps", "week", ("plan", "feature")),
                ("nps", "day", ("locale",)),
                ("nps", "month", ()),
                ("csat", "all", ("survey", "band")),
            ]:
                args = store._args(project.id, kind, BEFORE_FROM, date.today(), period,
                                   [store.Dimension(d) for d in dims], store.Filters())  # fmt: skip
                for rows_sql, days_sql in ((store.RATINGS, store.RATINGS_FROM_DAYS),
                                           (store.SHOWN, store.SHOWN_FROM_DAYS)):  # fmt: skip
                    from_rows = sorted(tuple(r) for r in await conn.fetch(rows_sql, *args))
                    from_days = sorted(tuple(r) for r in await conn.fetch(days_sql, *args))
                    assert from_rows == from_days and from_rows, (kind, period, dims)
                    compared += len(from_rows)
        finally:
            await conn.close()
        return compared

    assert asyncio.run(compare()) > 100


def test_the_commands_print_what_the_api_answers(
    server: RunningServer, project: Project, module_database_url: str, generated: list[Any]
) -> None:
    from click.testing import CliRunner

    from cxloop.cli import cli

    def cxloop(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    common = ["--project", project.id, "--kind", "nps", "--from", SINCE.isoformat(), "--to",
              UNTIL.isoformat(), "--group-by", "plan", "--database-url", module_database_url]  # fmt: skip
    window = {"from": SINCE.isoformat(), "to": UNTIL.isoformat()}
    api = _ok(_get(server, project, "", kind="nps", period="month", group_by="plan", **window))
    printed = json.loads(cxloop("insights", "ratings", "--period", "month", "--json", *common))
    assert printed == api
    table = cxloop("insights", "ratings", "--period", "all", *common)
    assert all(plan in table for plan in (*PLANS, "trial"))
    api_change = _ok(_get(server, project, "/change", kind="nps", group_by="plan",
                          compare="rest", **window))  # fmt: skip
    printed = json.loads(cxloop("insights", "change", "--compare", "rest", "--json", *common))
    assert printed == api_change
    table = cxloop("insights", "change", *common)
    assert "fewer than 10" in table and "yes" in table
    bad = CliRunner().invoke(cli, ["insights", "ratings", *common[:-2], "--group-by", "colour",
                                   "--database-url", module_database_url])  # fmt: skip
    assert bad.exit_code == 2 and "unknown dimension 'colour'" in bad.output


def _t_cdf_by_simpson(t: float, df: float, steps: int = 20_000) -> float:
    """0.5 + ∫₀ᵗ of Student's t density by Simpson's rule (independent of the app's code)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    h = t / steps
    total = sum(
        (1 if i in (0, steps) else 4 if i % 2 else 2)
        * math.exp(log_c - (df + 1) / 2 * math.log1p((i * h) ** 2 / df))
        for i in range(steps + 1)
    )
    return 0.5 + total * h / 3


def test_ces_means_and_welch_changes(server: RunningServer, module_database_url: str) -> None:
    from tests.helpers.server import create_project

    ces = create_project(module_database_url, "ces")
    # The "export" flow got harder (mean 3.0 → 3.9); "import" did not move.
    scores = {
        ("before", "export"): [2, 3, 3, 4, 2, 3, 4, 3, 2, 4, 3, 3] * 3,
        ("now", "export"): [4, 3, 5, 4, 4, 3, 5, 4, 3, 4, 5, 3] * 3,
        ("before", "import"): [2, 2, 3, 1, 2, 3, 2, 2] * 3,
        ("now", "import"): [2, 3, 2, 1, 2, 2, 3, 2] * 3,
    }
    rows = [
        (f"{window}-{flow}-{i}", score, "pro", flow,
         datetime(2026, 10, 10 if window == "now" else 3, 12, tzinfo=UTC), "en")
        for (window, flow), values in scores.items()
        for i, score in enumerate(values)
    ]  # fmt: skip

    async def load() -> None:
        conn = await asyncpg.connect(module_database_url)
        try:
            await conn.copy_records_to_table(
                "survey_responses",
                columns=["project_id", "response_id", "kind", "score", "feature", "partial",
                         "message_id", "responded_at", "updated_at"],
                records=[(ces.id, rid, "ces", float(s), f, False, rid, at, at)
                         for rid, s, _, f, at, _ in rows],
            )  # fmt: skip
        finally:
            await conn.close()

    asyncio.run(load())
    window = {"from": "2026-10-07", "to": "2026-10-13"}  # compare: the 7 days before
    ratings = _ok(_get(server, ces, "", kind="ces", period="all", group_by="feature", **window))
    by_flow = {r["groups"]["feature"]: r for r in ratings["rows"]}
    now = scores[("now", "export")]
    assert by_flow["export"]["metric"] == pytest.approx(sum(now) / len(now), abs=1e-4)
    assert by_flow["export"]["low_effort"] == pytest.approx(
        100 * sum(s <= 3 for s in now) / len(now), abs=1e-3
    )
    body = _ok(_get(server, ces, "/change", kind="ces", group_by="feature", **window))
    assert (body["compare_from"], body["compare_to"]) == ("2026-09-30", "2026-10-06")
    changes = {r["groups"]["feature"]: r for r in body["rows"]}
    for flow in ("export", "import"):
        a, b = scores[("now", flow)], scores[("before", flow)]
        mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
        var_a = sum((x - mean_a) ** 2 for x in a) / (len(a) - 1) / len(a)
        var_b = sum((x - mean_b) ** 2 for x in b) / (len(b) - 1) / len(b)
        t = (mean_a - mean_b) / math.sqrt(var_a + var_b)
        df = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
        p = 2 * (1 - _t_cdf_by_simpson(abs(t), df))
        assert changes[flow]["difference"] == pytest.approx(mean_a - mean_b, abs=1e-4)
        assert changes[flow]["p"] == pytest.approx(p, rel=1e-3, abs=1e-6)
    assert changes["export"]["significant"] and not changes["import"]["significant"]
