"""``GET /v1/accounts`` for the console: typed traits on every row, ``total``, the new filters
(q, csm, renewal window, trait, repeated band/plan) and sorts (mrr, renewal, name with nulls
last), exact keyset paging through 250 accounts in every sort, the export with the same filters,
and ``GET /v1/accounts/{id}/activity`` over real ingested usage."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers.people import add_person, fetch, make_session, session_headers
from tests.helpers.server import Project, RunningServer

N = 250
SORTS = ("score", "-score", "change", "-change", "mrr", "-mrr", "renewal", "-renewal",
         "name", "-name")  # fmt: skip


def _traits(n: int, today: date) -> dict[str, Any]:
    traits: dict[str, Any] = {
        "name": f"{'Acme' if n % 5 == 0 else 'Globex'} {n:03d}" + (" 100%_off" if n == 7 else ""),
        "plan": ("starter", "growth", "enterprise")[n % 3],
        "csm": ("ana@example.com", "bo@example.com", "王芳")[n % 3],
        "seats": n % 40 + 1,
        "region": "emea" if n % 2 else "apac",
    }
    # Mixed and missing values: numbers, string numbers, junk, ties (score and mrr repeat).
    if n % 10 == 1:
        traits["mrr"] = "not a number"
    elif n % 10 == 2:
        pass  # no mrr
    elif n % 10 == 3:
        traits["mrr"] = f"{100 * (n % 7)}"  # a string number
    else:
        traits["mrr"] = 100 * (n % 7) + 0.5
    if n % 9 == 4:
        traits["renewal_date"] = "soon"  # unparsable: null, never an error
    elif n % 9 == 5:
        traits["renewal_date"] = f"{(today + timedelta(days=n % 50)).isoformat()}T10:00:00Z"
    elif n % 9 != 6:
        traits["renewal_date"] = (today + timedelta(days=(n % 120) - 20)).isoformat()
    if n % 11 == 0:
        del traits["name"]  # null names sort last
    return traits


@pytest.fixture(scope="module")
def accounts(server: RunningServer, project: Project, module_database_url: str) -> Project:
    today = datetime.now(UTC).date()

    async def work() -> None:
        conn = await asyncpg.connect(module_database_url)
        try:
            now = datetime.now(UTC)
            await conn.copy_records_to_table(
                "accounts",
                records=[
                    (project.id, f"acct-{n:03d}", json.dumps(_traits(n, today)), now, now)
                    for n in range(N)
                ],
                columns=["project_id", "account_id", "traits", "first_seen_at", "last_seen_at"],
            )
            rows = []
            for n in range(N):
                score = float((n * 37) % 100)  # ties on purpose
                band = "green" if score >= 60 else "yellow" if score >= 40 else "red"
                for back, day_score in ((1, score + 3), (0, score)):
                    rows.append(
                        (
                            project.id,
                            f"acct-{n:03d}",
                            today - timedelta(days=back),
                            day_score,
                            band,
                            "normal",
                            None if back else (-3.0 if n % 4 else None),
                            "[]",
                            '{"score": [], "change": []}',
                        )
                    )
            await conn.copy_records_to_table(
                "health_snapshots",
                records=rows,
                columns=[
                    "project_id",
                    "account_id",
                    "day",
                    "score",
                    "band",
                    "confidence",
                    "change",
                    "components",
                    "drivers",
                ],
            )
        finally:
            await conn.close()

    asyncio.run(work())
    return project


def _list(client: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = client.get("/v1/accounts", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _expected(rows: list[dict[str, Any]], sort: str) -> list[str]:
    field = sort.lstrip("-")
    descending = sort.startswith("-")

    def key(row: dict[str, Any]) -> Any:
        value = {
            "score": row["score"],
            "change": row["change"] or 0.0,
            "mrr": row["mrr"],
            "renewal": row["renewal_date"],
            "name": None if row["name"] is None else row["name"].lower(),
        }[field]
        return value

    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=lambda r: (key(r), r["account_id"]), reverse=descending)
    missing.sort(key=lambda r: r["account_id"], reverse=descending)
    return [r["account_id"] for r in present + missing]


def test_every_sort_pages_through_each_account_once_in_order(
    accounts: Project, server: RunningServer
) -> None:
    with server.client(headers=accounts.bearer) as client:
        everything = _list(client, limit=1000)["accounts"]
        assert len(everything) == N
        for sort in SORTS:
            seen: list[str] = []
            cursor = None
            pages = 0
            while True:
                params: dict[str, Any] = {"sort": sort, "limit": 17}
                if cursor:
                    params["cursor"] = cursor
                body = _list(client, **params)
                assert body["total"] == N
                seen += [a["account_id"] for a in body["accounts"]]
                cursor = body["next_cursor"]
                pages += 1
                if cursor is None:
                    break
            assert pages == -(-N // 17)
            assert seen == _expected(everything, sort), sort


def test_rows_carry_typed_traits(accounts: Project, server: RunningServer) -> None:
    today = datetime.now(UTC).date()
    with server.client(headers=accounts.bearer) as client:
        rows = {a["account_id"]: a for a in _list(client, limit=1000)["accounts"]}
    for n in range(N):
        row, traits = rows[f"acct-{n:03d}"], _traits(n, today)
        assert row["seats"] == traits["seats"]
        assert row["csm"] == traits["csm"]
        mrr = traits.get("mrr")
        expected_mrr = None if mrr is None or mrr == "not a number" else float(mrr)
        assert row["mrr"] == expected_mrr
        renewal = traits.get("renewal_date")
        if renewal is None or renewal == "soon":
            assert row["renewal_date"] is None and row["days_to_renewal"] is None
        else:
            day = date.fromisoformat(renewal[:10])
            assert row["renewal_date"] == day.isoformat()
            assert row["days_to_renewal"] == (day - today).days
        assert row["status"] is None


def test_filters(accounts: Project, server: RunningServer) -> None:
    with server.client(headers=accounts.bearer) as client:
        rows = _list(client, limit=1000)["accounts"]

        def ids(**params: Any) -> list[str]:
            body = _list(client, limit=1000, sort="name", **params)
            assert body["total"] == len(body["accounts"])
            return sorted(a["account_id"] for a in body["accounts"])

        def where(test: Any) -> list[str]:
            return sorted(r["account_id"] for r in rows if test(r))

        assert ids(q="ACME") == where(lambda r: r["name"] and "acme" in r["name"].lower())
        assert ids(q="cct-01") == where(lambda r: "cct-01" in r["account_id"])
        # LIKE wildcards are text: "%_" matches only the name that has them.
        assert ids(q="%_") == ["acct-007"]
        assert ids(q="_") == ["acct-007"]
        assert ids(csm="王芳") == where(lambda r: r["csm"] == "王芳")
        assert ids(csm=["王芳", "bo@example.com"]) == where(lambda r: r["csm"] != "ana@example.com")
        assert ids(band=["red", "green"]) == where(lambda r: r["band"] != "yellow")
        assert ids(band="yellow") == where(lambda r: r["band"] == "yellow")
        assert ids(plan=["starter", "growth"]) == where(lambda r: r["plan"] != "enterprise")
        assert ids(renewal_within=30) == where(
            lambda r: r["days_to_renewal"] is not None and 0 <= r["days_to_renewal"] <= 30
        )
        assert ids(renewal_within=0) == where(lambda r: r["days_to_renewal"] == 0)
        assert ids(trait="region:emea") == where(lambda r: int(r["account_id"][-3:]) % 2 == 1)
        assert ids(trait=["region:emea", "plan:growth"]) == where(
            lambda r: int(r["account_id"][-3:]) % 2 == 1 and r["plan"] == "growth"
        )
        assert ids(trait="seats:3") == where(lambda r: r["seats"] == 3)  # a number's text
        assert ids(trait="region:") == []
        assert ids(min_score=40, max_score=59.5, band="yellow") == where(
            lambda r: r["band"] == "yellow"
        )
        combined = _list(client, q="acme", band="red", sort="-mrr", limit=3)
        assert combined["total"] == len(
            where(lambda r: r["name"] and "acme" in r["name"].lower() and r["band"] == "red")
        )
        assert len(combined["accounts"]) == 3 and combined["next_cursor"] is not None
        for bad in ("region", ":emea", " :x"):
            answer = client.get("/v1/accounts", params={"trait": bad})
            assert answer.status_code == 400
            assert answer.json()["code"] == "invalid_trait_filter"
            assert "name:value" in answer.json()["message"]
        for params in (
            {"renewal_within": -1},
            {"renewal_within": 3651},
            {"band": "blue"},
            {"sort": "mrr,score"},
        ):
            assert client.get("/v1/accounts", params=params).status_code == 400
        # A cursor of one sort is refused by another, never a 500.
        cursor = _list(client, sort="score", limit=2)["next_cursor"]
        answer = client.get("/v1/accounts", params={"sort": "renewal", "cursor": cursor})
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_cursor"


def test_export_has_the_new_columns_and_filters(accounts: Project, server: RunningServer) -> None:
    with server.client(headers=accounts.bearer) as client:
        listed = _list(client, band="red", sort="-renewal", limit=1000)["accounts"]
        answer = client.get("/v1/accounts/export", params={"band": "red", "sort": "-renewal"})
        assert answer.status_code == 200
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert [r["account_id"] for r in rows] == [a["account_id"] for a in listed]
        for row, account in zip(rows, listed, strict=True):
            assert row["csm"] == account["csm"]
            assert row["renewal_date"] == (account["renewal_date"] or "")
            assert row["days_to_renewal"] == (
                "" if account["days_to_renewal"] is None else str(account["days_to_renewal"])
            )
        everything = client.get("/v1/accounts/export")
        assert len(list(csv.DictReader(io.StringIO(everything.text)))) == N


def test_accounts_need_health_read(
    accounts: Project, server: RunningServer, module_database_url: str
) -> None:
    viewer = add_person(module_database_url, accounts.id, "viewer-accounts@example.com", "viewer")
    with server.client(headers=session_headers(make_session(module_database_url, viewer))) as c:
        c.headers["x-cxloop-project"] = accounts.id
        assert c.get("/v1/accounts", params={"q": "acme"}).status_code == 200
    with server.client() as client:
        assert client.get("/v1/accounts").status_code == 401


def test_activity_weeks_and_heat_map(
    accounts: Project, server: RunningServer, module_database_url: str
) -> None:
    """Usage ingested for one account in two ISO weeks; the other weeks are zeros."""
    today = datetime.now(UTC).date()
    this_monday = today - timedelta(days=today.weekday())
    last_week = this_monday - timedelta(days=7) + timedelta(days=2)
    events = []
    for user, day, feature, count in (
        ("u1", this_monday, "reports", 4),
        ("u2", this_monday, "export", 1),
        ("u1", last_week, "reports", 2),
        ("u3", last_week, "dashboards", 5),
    ):
        for i in range(count):
            events.append(
                {
                    "type": "track",
                    "event": "Used",
                    "userId": user,
                    "properties": {"feature": feature},
                    "context": {"groupId": "acct-001"},
                    "timestamp": f"{day.isoformat()}T00:{i:02d}:00Z",
                    "messageId": f"act-{user}-{day}-{feature}-{i}",
                }
            )
    with server.client() as client:
        answer = client.post("/v1/batch", json={"batch": events}, headers=accounts.basic_auth)
        assert answer.status_code == 200, answer.text
    with server.client(headers=accounts.bearer, timeout=120) as client:
        refresh = client.post("/v1/health/refresh")
        assert refresh.status_code == 200, refresh.text
        answer = client.get("/v1/accounts/acct-001/activity", params={"weeks": 4})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seats = fetch(
            module_database_url,
            "SELECT seats FROM accounts WHERE project_id = $1 AND account_id = 'acct-001'",
            accounts.id,
        )[0]["seats"]
        mondays = [(this_monday - timedelta(weeks=3 - i)).isoformat() for i in range(4)]
        assert [w["week"] for w in body["weeks"]] == mondays
        assert [w["active_users"] for w in body["weeks"]] == [0, 0, 2, 2]
        assert [w["events"] for w in body["weeks"]] == [0, 0, 7, 5]
        assert all(w["seats"] == seats for w in body["weeks"])
        assert body["features"] == [
            {"feature": "reports", "weeks": [0, 0, 2, 4]},
            {"feature": "dashboards", "weeks": [0, 0, 5, 0]},
            {"feature": "export", "weeks": [0, 0, 0, 1]},
        ]
        for weeks in (0, 53):
            bad = client.get("/v1/accounts/acct-001/activity", params={"weeks": weeks})
            assert bad.status_code == 400
        quiet = client.get("/v1/accounts/acct-002/activity").json()
        assert len(quiet["weeks"]) == 12 and quiet["features"] == []
        assert all(w["active_users"] == 0 and w["events"] == 0 for w in quiet["weeks"])


def test_facets_count_what_the_list_filters(
    accounts: Project, other_project: Project, server: RunningServer, module_database_url: str
) -> None:
    with server.client(headers=accounts.bearer) as client:
        answer = client.get("/v1/accounts/facets")
        assert answer.status_code == 200, answer.text
        facets = answer.json()
        assert {f["value"] for f in facets["plans"]} == {"starter", "growth", "enterprise"}
        assert {f["value"] for f in facets["csms"]} == {"ana@example.com", "bo@example.com", "王芳"}
        assert {f["value"] for f in facets["bands"]} <= {"green", "yellow", "red"}
        for key, param in (("plans", "plan"), ("csms", "csm"), ("bands", "band")):
            counts = [(f["accounts"], f["value"]) for f in facets[key]]
            # Most common first, then by value.
            assert counts == sorted(counts, key=lambda c: (-c[0], c[1].encode()))
            for facet in facets[key]:
                assert (
                    facet["accounts"] == _list(client, limit=1, **{param: facet["value"]})["total"]
                ), (key, facet)
            assert sum(f["accounts"] for f in facets[key]) == N  # every account has all three
        # Trait names: every account has plan, csm, seats, region; most have name and mrr.
        assert facets["traits"][:4] and set(facets["traits"][:4]) == {
            "plan", "csm", "seats", "region"
        }  # fmt: skip
        assert {"name", "mrr", "renewal_date"} <= set(facets["traits"])
        assert len(facets["traits"]) == len(set(facets["traits"])) <= 50
        # A route, not an account id: the list's detail route does not shadow it.
        assert "account_id" not in facets

    with server.client(headers=other_project.bearer) as client:
        empty = client.get("/v1/accounts/facets")
        assert empty.status_code == 200, empty.text
        assert empty.json() == {"plans": [], "csms": [], "bands": [], "traits": []}

    viewer = add_person(module_database_url, accounts.id, "viewer-facets@example.com", "viewer")
    with server.client(headers=session_headers(make_session(module_database_url, viewer))) as c:
        c.headers["x-cxloop-project"] = accounts.id
        seen = c.get("/v1/accounts/facets")
        assert seen.status_code == 200, seen.text
        assert seen.json() == facets
    with server.client() as client:
        assert client.get("/v1/accounts/facets").status_code == 401
