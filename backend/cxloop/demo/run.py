"""``cxloop demo``: start the server on its embedded defaults and show the loop working."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from cxloop.demo.feedback import (
    DEMO_COMPETITORS,
    STORY_ACCOUNTS,
    STORY_FEATURES,
    feedback_events,
)
from cxloop.settings import Settings

__all__ = ["DEMO_PEOPLE", "demo_events", "portfolio_events", "run_demo"]


def demo_events(now: datetime | None = None) -> list[dict[str, Any]]:
    """A small, realistic day in a B2B SaaS app: two accounts, three users, a rating."""
    now = now or datetime.now(UTC)
    events: list[dict[str, Any]] = []

    def add(minutes_ago: int, **event: Any) -> None:
        events.append(
            {
                "messageId": str(uuid.uuid4()),
                "timestamp": (now - timedelta(minutes=minutes_ago)).isoformat(),
                **event,
            }
        )

    people = [("u_ada", "acct_acme", "Acme Corp"), ("u_bo", "acct_acme", "Acme Corp"),
              ("u_chen", "acct_globex", "Globex 环球")]  # fmt: skip
    for user, account, account_name in people:
        add(60, type="identify", userId=user, traits={"email": f"{user[2:]}@example.com"})
        add(59, type="group", userId=user, groupId=account,
            traits={"name": account_name, "plan": "pro", "seats": 10})  # fmt: skip
        add(58, type="page", userId=user, name="Dashboard", context={"groupId": account})
        for minute, feature in enumerate(["reports", "exports", "reports"]):
            add(50 - minute, type="track", userId=user, event="Feature Used",
                properties={"feature": feature}, context={"groupId": account})  # fmt: skip
    add(5, type="track", userId="u_chen", event="Survey Responded", context={"groupId": "acct_globex"},
        properties={"survey_id": "nps_q4", "response_id": "r_demo_1", "kind": "nps", "score": 9,
                    "comment": "报表功能很好用 / reports are great"})  # fmt: skip
    return events


# The simulated portfolio around the story: its seed, and how many requests send it at once.
PORTFOLIO_SEED = 1
_SENDERS = 4


def portfolio_events(
    accounts: int, days: int, surveys: dict[str, str], now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The simulated B2B portfolio (cxloop.demo.simulation): ``accounts`` accounts over
    ``days`` days, oldest day first, with ratings and comments in English and Chinese. Its
    NPS and CSAT answers go to the demo project's surveys of that kind (``surveys``)."""
    from cxloop.demo.simulation import SimConfig, generate

    population = generate(
        SimConfig(accounts=accounts, days=days, seed=PORTFOLIO_SEED, now=now or datetime.now(UTC))
    )
    # The simulator models answers, not the surveys shown that were not answered; without
    # impressions every response rate would read as responses / 0. So each answer comes after
    # its survey was shown, and some more showings went unanswered (about 45% answered), from
    # a random stream of the demo's own (the simulator's stays the bench's).
    rng = random.Random(f"cxloop-demo:impressions:{PORTFOLIO_SEED}")
    for event in population.events():
        properties: dict[str, Any] = event.get("properties") or {}
        if event.get("event") == "Survey Responded":
            if properties["kind"] in surveys:
                properties["survey_id"] = surveys[properties["kind"]]
            yield from _impressions(rng, event, properties)
        yield event


def _impressions(
    rng: random.Random, response: dict[str, Any], properties: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The ``Survey Shown`` before an answer, and earlier unanswered ones (some dismissed)."""
    answered = datetime.fromisoformat(response["timestamp"].replace("Z", "+00:00"))
    base = {key: properties[key] for key in ("survey_id", "kind", "feature") if key in properties}
    moments = [answered - timedelta(seconds=rng.uniform(3, 20))]
    while rng.random() < 0.55:  # unanswered showings, earlier that day or the days before
        moments.append(answered - timedelta(minutes=rng.uniform(30, 3 * 24 * 60)))
    for number, moment in enumerate(sorted(moments)):
        common = {"type": "track", "userId": response["userId"], "context": response["context"]}
        yield {
            **common,
            "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "timestamp": moment.isoformat(),
            "event": "Survey Shown",
            "properties": {**base, "placement": "popover"},
        }
        if number < len(moments) - 1 and rng.random() < 0.5:
            yield {
                **common,
                "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "timestamp": (moment + timedelta(seconds=rng.uniform(2, 15))).isoformat(),
                "event": "Survey Dismissed",
                "properties": {**base, "reason": "closed"},
            }


def _send_all(url: str, write_key: str, events: Iterator[dict[str, Any]]) -> tuple[int, int]:
    """Send in batches of ``_DEMO_BATCH``, a few requests at a time: (sent, accepted)."""

    def batches() -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        for event in events:
            batch.append(event)
            if len(batch) == _DEMO_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    sent = accepted = 0
    with concurrent.futures.ThreadPoolExecutor(_SENDERS) as pool:
        pending: set[concurrent.futures.Future[dict[str, Any]]] = set()
        for batch in batches():
            sent += len(batch)
            pending.add(pool.submit(_post, f"{url}/v1/batch", write_key, {"batch": batch}))
            if len(pending) >= 2 * _SENDERS:
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED
                )
                accepted += sum(f.result()["accepted"] for f in done)
        accepted += sum(f.result()["accepted"] for f in pending)
    return sent, accepted


class DemoPerson(NamedTuple):
    role: str
    email: str
    name: str


# The console's demo people, one per role the console's tests sign in as.
DEMO_PEOPLE = (
    DemoPerson("owner", "owner@demo.cxloop.dev", "Olivia Owner 欧丽"),
    DemoPerson("analyst", "analyst@demo.cxloop.dev", "Andy Analyst 安迪"),
    DemoPerson("viewer", "viewer@demo.cxloop.dev", "Vera Viewer 薇拉"),
)


async def _demo_people(settings: Settings, project_id: str) -> dict[str, dict[str, str]]:
    """Create or reset the demo's console people: each gets a fresh random password (their
    sessions end) and their role in the demo project. Role → {email, password}."""
    from cxloop.access import (
        add_member,
        cli_principal,
        create_user,
        find_user,
        member_role,
        record_audit,
        set_password,
        set_role,
    )

    out: dict[str, dict[str, str]] = {}
    async with _connection(settings) as conn:
        for person in DEMO_PEOPLE:
            password = secrets.token_urlsafe(12)
            async with conn.transaction():
                user = await find_user(conn, person.email)
                if user is None:
                    user = await create_user(
                        conn, person.email, name=person.name, password=password
                    )
                    action = "console_user.created"
                else:
                    await set_password(conn, user.id, password)
                    action = "console_user.password_reset"
                role = await member_role(conn, project_id, user.id)
                if role is None:
                    await add_member(conn, project_id, user.id, person.role)
                elif role != person.role:
                    await set_role(conn, project_id, user.id, person.role)
                await record_audit(
                    conn,
                    cli_principal(project_id),
                    action,
                    "console_user",
                    user.id,
                    {"email": user.email, "role": person.role, "by": "cxloop demo"},
                )
            out[person.role] = {"email": user.email, "password": password}
    return out


async def _backfill(settings: Settings, project_id: str, days: int) -> float:
    """Score each of the last ``days`` days as a refresh on that day would have (the score
    history the console charts); seconds taken."""
    from cxloop.health import backfill_project
    from cxloop.lake import LakeLocation

    started = time.perf_counter()
    async with _connection(settings) as conn:
        await backfill_project(conn, LakeLocation.from_settings(settings), project_id, days)
    return time.perf_counter() - started


# Ingest pushes back (503/429 + Retry-After) while the pipeline is behind; the demo waits as
# the browser SDK does, for as long as this, instead of failing.
_PUSHBACK_PATIENCE_S = 600.0


def _post(url: str, write_key: str, body: dict[str, Any]) -> dict[str, Any]:
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    deadline = time.monotonic() + _PUSHBACK_PATIENCE_S
    while True:
        try:
            return _call("POST", url, f"Basic {token}", body)
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 503) or time.monotonic() > deadline:
                raise
            wait = exc.headers.get("Retry-After", "1")
            time.sleep(min(60.0, max(0.5, float(wait) if wait.isdigit() else 1.0)))


def _call(
    method: str, url: str, authorization: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - our own server on loopback
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": authorization},
        method=method,
    )
    # A refresh waits for the pipeline (up to 120 s) before it scores.
    with urllib.request.urlopen(request, timeout=180) as response:  # noqa: S310
        result: dict[str, Any] = json.loads(response.read())
        return result


def _wait_ready(state_file: Path, server: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"cxloop serve exited with code {server.returncode}")
        if state_file.exists():
            url: str = json.loads(state_file.read_text())["url"]
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return url
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.2)
    raise RuntimeError("cxloop serve did not become ready in time")


@asynccontextmanager
async def _connection(settings: Settings) -> AsyncIterator[Any]:
    import asyncpg

    from cxloop.db import database_url_for, register_json_codecs

    with database_url_for(settings.database_url, settings.postgres_dir) as url:
        conn = await asyncpg.connect(url)
        try:
            await register_json_codecs(conn)
            yield conn
        finally:
            await conn.close()


# Events per request when the demo sends its three months of history.
_DEMO_BATCH = 500

# The surveys the widget-demo app (widget-demo/) is built to trigger.
DEMO_SURVEYS: list[dict[str, Any]] = [
    {
        "name": "Reports export CSAT",
        "kind": "csat",
        "question": {
            "en": "How satisfied are you with exporting reports?",
            "zh-CN": "您对报表导出功能满意吗？",
            "zh-TW": "您對報表匯出功能滿意嗎？",
        },
        "follow_up": {
            "default": {
                "en": "Tell us more (optional)",
                "zh-CN": "还有什么想告诉我们的吗？（选填）",
            },
            "detractor": {"en": "What went wrong?", "zh-CN": "哪里出了问题？"},
        },
        "feature": "reports-export",
        "trigger": {"event": "Report Exported"},
        "frequency": {"mode": "until_answered"},
        "placement": "popover",
    },
    {
        "name": "Product NPS",
        "kind": "nps",
        "question": {
            "en": "How likely are you to recommend Acme Analytics to a colleague?",
            "zh-CN": "您向同事推荐 Acme Analytics 的可能性有多大？",
            "zh-TW": "您向同事推薦 Acme Analytics 的可能性有多大？",
        },
        "follow_up": {
            "default": {
                "en": "What is the main reason for your score?",
                "zh-CN": "您打分的主要原因是什么？",
            },
            "detractor": {"en": "What should we fix first?", "zh-CN": "我们应该先改进什么？"},
            "promoter": {"en": "What do you like most?", "zh-CN": "您最喜欢什么？"},
        },
        "trigger": {"min_page_views": 3},
        "frequency": {"mode": "recurring", "every_days": 90},
        "placement": "modal",
    },
]


class DemoProject(NamedTuple):
    id: str
    write_key: str
    secret_key: str
    surveys: dict[str, str]  # kind → id of the demo survey of that kind


async def _demo_project(settings: Settings) -> DemoProject:
    """The demo project and its surveys, created on first run, with a fresh secret key.

    Only a secret key's hash is stored, so a later run cannot show the key it made before: it
    makes a new one (the previous one stops working), and a newcomer can try the private API.
    """
    import msgspec

    from cxloop.db import apply_migrations
    from cxloop.projects import create_project, list_projects, rotate_secret_key
    from cxloop.surveys import SurveyInput, create_survey, list_surveys, set_status

    async with _connection(settings) as conn:
        await apply_migrations(conn)
        found = [p for p in await list_projects(conn) if p.name == "demo"]
        if found:
            project_id, write_key = found[0].id, found[0].write_key
            secret_key = await rotate_secret_key(conn, project_id)
            assert secret_key is not None  # the project was just listed; none is ever deleted
        else:
            created = await create_project(conn, "demo")
            project_id, write_key, secret_key = created.id, created.write_key, created.secret_key
        if not await list_surveys(conn, project_id):
            for definition in DEMO_SURVEYS:
                survey = await create_survey(
                    conn, project_id, msgspec.convert(definition, SurveyInput)
                )
                await set_status(conn, project_id, survey.id, "active")
        # The first survey of each kind (a vendor may have added more to the demo project).
        # The first survey of each kind (a vendor may have added more to the demo project).
        listed = reversed(await list_surveys(conn, project_id))
        surveys: dict[str, str] = {s.definition.kind: s.id for s in listed}
    # The server fills the demo app's snippet with this key (cxloop.sdk.demo).
    state = settings.data_dir.resolve() / "state" / "demo.json"
    state.write_text(json.dumps({"project_id": project_id, "write_key": write_key}))
    return DemoProject(project_id, write_key, secret_key, surveys)


async def _accounts(
    settings: Settings, project_id: str, *, at_least: int, wait_s: float
) -> list[Any]:
    """The projected accounts, once ``at_least`` are there or ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    async with _connection(settings) as conn:
        while True:
            accounts = list(
                await conn.fetch(
                    "SELECT account_id, traits->>'name' AS name, traits->>'plan' AS plan "
                    "FROM accounts WHERE project_id = $1 ORDER BY account_id",
                    project_id,
                )
            )
            if len(accounts) >= at_least or time.monotonic() > deadline:
                return accounts
            await asyncio.sleep(0.5)


def _show_insights(url: str, bearer: str, echo: Callable[[str], None]) -> None:
    """What the feedback insights say about the demo's three months (docs/insights.md)."""
    today = datetime.now(UTC).date()
    since = (today - timedelta(days=89)).isoformat()
    api = f"{url}/v1/insights"
    echo("\nfeedback insights (docs/insights.md), with the secret key:")
    nps = _call("GET", f"{api}/ratings?kind=nps&period=all&group_by=plan&from={since}", bearer)
    echo(f"  GET {api}/ratings?kind=nps&period=all&group_by=plan -> NPS by plan, 95% interval:")
    for row in nps["rows"]:
        echo(
            f"    {row['groups']['plan'] or '(none)':<12} NPS {row['metric']:6.1f} "
            f"[{row['low']:6.1f}, {row['high']:6.1f}]  n={row['n']}"
            + (f", response rate {row['response_rate']:.0%}" if row["response_rate"] else "")
        )
    recent = (today - timedelta(days=20)).isoformat()
    change = _call("GET", f"{api}/ratings/change?kind=csat&from={recent}&group_by=feature", bearer)
    echo(
        f"  GET {api}/ratings/change?kind=csat&group_by=feature -> the last 3 weeks against the 3 before:"
    )
    for row in change["rows"]:
        mark = "significant" if row["significant"] else "not significant"
        echo(
            f"    {row['groups']['feature'] or '(none)':<16} % satisfied "
            f"{row['previous_metric'] or 0:5.1f} -> {row['current_metric'] or 0:5.1f} "
            f"({row['difference'] or 0:+.1f}, {mark})"
        )
    topics = _call("GET", f"{api}/topics?kind=nps&from={since}", bearer)
    # nps_impact is ≤ 0: the NPS points the topic's detractors cost.
    ranked = sorted(topics["topics"], key=lambda t: t["nps_impact"] or 0)[:3]
    echo(f"  GET {api}/topics?kind=nps -> what costs NPS most (topic, share of comments, impact):")
    for topic in ranked:
        echo(
            f"    {topic['name']:<26} {topic['share']:5.0%}  NPS impact "
            f"{topic['nps_impact'] or 0:+5.1f}  ({topic['quadrant'] or '-'})"
        )
    churn = _call("GET", f"{api}/verbatims?churn_intent=true&limit=1000", bearer)
    # The story's two leaving accounts first; the simulated portfolio has more (voiced churners).
    leaving = [v for v in churn["verbatims"] if v["account_id"] in STORY_ACCOUNTS][:2]
    echo(
        f"  GET {api}/verbatims?churn_intent=true -> {len(churn['verbatims'])} comments talk "
        "about leaving, e.g.:"
    )
    for verbatim in leaving:
        echo(
            f"    {verbatim['account_id']}: score {verbatim['score']:g}, "
            f"{verbatim['sentiment']}, topics {', '.join(verbatim['topics']) or '-'}"
            + (
                f", competitors {', '.join(verbatim['competitors'])}"
                if verbatim["competitors"]
                else ""
            )
            + f"\n      「{verbatim['comment']}」"
        )
    features = ",".join(STORY_FEATURES)
    drivers = _call("GET", f"{api}/drivers/usage?kind=nps&from={since}&features={features}", bearer)
    echo(
        f"  GET {api}/drivers/usage?kind=nps&features={features} -> NPS of raters who used a "
        "feature in the 30 days before, vs not:"
    )
    for driver in sorted(drivers["features"], key=lambda d: d["rank"] or 99)[:3]:
        echo(
            f"    {driver['feature']:<16} {driver['users_metric'] or 0:6.1f} vs "
            f"{driver['non_users_metric'] or 0:6.1f}  share of R² "
            f"{(driver['share_of_r2'] or 0):.0%}"
        )


def run_demo(
    settings: Settings,
    *,
    keep_running: bool,
    echo: Callable[[str], None],
    accounts: int = 200,
    days: int = 90,
    emit_json: Callable[[str], None] | None = None,
) -> int:
    """Start the server, fill the demo project (the story of ``feedback.py`` and a simulated
    portfolio of ``accounts`` accounts over ``days`` days), score it with a history, and print
    what the API says. ``emit_json``: also called once, after setup, with one line of JSON
    (urls, keys, the console people's credentials) for scripts and browser tests."""
    import duckdb

    from cxloop.demo.simulation.comments import COMPETITORS as SIM_COMPETITORS
    from cxloop.lake import LakeLocation, attach, duckdb_events_sql
    from cxloop.ops import parent_death_signal

    data_dir = settings.data_dir.resolve()
    state_file = data_dir / "state" / "serve.json"
    state_file.unlink(missing_ok=True)
    env = {**os.environ, "CXLOOP_DATA_DIR": str(data_dir)}
    if settings.port != Settings().port:
        env["CXLOOP_PORT"] = str(settings.port)
    echo(f"starting cxloop (data directory {data_dir}) ...")
    # SIGTERM stops the demo like Ctrl-C does: through the finally below, which stops the server
    # (and with it the embedded PostgreSQL) instead of leaving it running on the port.
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Ctrl-C too, even when whoever started the demo ignored SIGINT (a shell without job control
    # starts background commands that way, and Python then keeps ignoring it).
    previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    # The server gets SIGTERM (a clean stop) if the demo dies, even by kill -9.
    stop_with_demo = parent_death_signal(signal.SIGTERM)
    # With --json, stdout is the JSON line alone: the server writes its log to stderr.
    server = subprocess.Popen(
        [sys.executable, "-m", "cxloop.cli", "serve"],
        env=env,
        preexec_fn=stop_with_demo,
        stdout=sys.stderr if emit_json is not None else None,
    )
    try:
        url = _wait_ready(state_file, server, timeout=120)
        project = asyncio.run(_demo_project(settings))
        project_id, write_key = project.id, project.write_key
        echo(
            f"\nproject 'demo' ({project_id})\n"
            f"  write key   {write_key}   (public: the snippet and Segment libraries send with it)\n"
            f"  secret key  {project.secret_key}   (the private API; a new one at every "
            "`cxloop demo`, the previous one stops working)"
        )

        events = demo_events()
        answer = _post(f"{url}/v1/batch", write_key, {"batch": events})
        echo(f"POST {url}/v1/batch with {len(events)} events -> 200 {answer}")
        bad = _post(f"{url}/v1/track", write_key, {"userId": "u_ada"})
        echo(f"POST {url}/v1/track without an event name -> 200 {bad}  (kept in lake/failed)")
        # Competitors to watch for in comments, before any comment is analysed.
        _call(
            "PUT",
            f"{url}/v1/insights/config",
            f"Bearer {project.secret_key}",
            {"competitors": [*DEMO_COMPETITORS, *SIM_COMPETITORS]},
        )
        history = feedback_events(project.surveys)
        accepted = 0
        for start in range(0, len(history), _DEMO_BATCH):
            answer = _post(
                f"{url}/v1/batch", write_key, {"batch": history[start : start + _DEMO_BATCH]}
            )
            accepted += answer["accepted"]
        echo(
            f"POST {url}/v1/batch x{-(-len(history) // _DEMO_BATCH)}: three months of usage and "
            f"ratings in English and Chinese, {accepted} of {len(history)} events accepted"
        )
        started = time.perf_counter()
        simulated, accepted = _send_all(
            url, write_key, portfolio_events(accounts, days, project.surveys)
        )
        echo(
            f"POST {url}/v1/batch x{-(-simulated // _DEMO_BATCH)}: a simulated portfolio of "
            f"{accounts} accounts over {days} days (cxloop.demo.simulation, seed "
            f"{PORTFOLIO_SEED}) with ratings and comments in English and Chinese, {accepted} "
            f"of {simulated} events accepted in {time.perf_counter() - started:.1f} s"
        )

        lake = LakeLocation.from_settings(settings)
        deadline = time.monotonic() + 120
        rows: list[Any] = []
        while time.monotonic() < deadline:
            try:
                with duckdb.connect() as db:
                    attach(db, lake)
                    # The lake's files are ours; the project id is a bound parameter.
                    by_type = (
                        f"SELECT type, count(*) AS events FROM {duckdb_events_sql(lake)} "  # noqa: S608
                        "WHERE project_id = ? GROUP BY type ORDER BY type"
                    )
                    rows = db.execute(by_type, [project_id]).fetchall()
            except duckdb.Error:
                rows = []
            if sum(count for _, count in rows) >= len(events) + len(history) + simulated:
                break
            time.sleep(0.5)
        echo(
            "\nthe events are in the Parquet lake under "
            f"{lake.uri('events', f'project_id={project_id}')}/"
        )
        for kind, count in rows:
            echo(f"  {kind:<10} {count}")
        # Every account of the story and of the portfolio says who it is on its first day.
        everyone = len(STORY_ACCOUNTS) + accounts
        projected = asyncio.run(_accounts(settings, project_id, at_least=everyone, wait_s=120))
        echo(f"\naccounts projected into PostgreSQL: {len(projected)}, the story's among them:")
        for account in projected:
            if account["account_id"] in STORY_ACCOUNTS:
                echo(f"  {account['account_id']:<14} {account['name']:<18} plan={account['plan']}")
        bearer = f"Bearer {project.secret_key}"
        # The refresh waits for the pipeline (lake, projection, comment analysis) first.
        refreshed = _call("POST", f"{url}/v1/health/refresh", bearer)
        seconds = asyncio.run(_backfill(settings, project_id, days))
        listed = _call("GET", f"{url}/v1/accounts?limit=1000", bearer)
        bands: dict[str, int] = {}
        for account in listed["accounts"]:
            bands[account["band"]] = bands.get(account["band"], 0) + 1
        echo(
            "\nthe private API, with the secret key:\n"
            f"  POST {url}/v1/health/refresh -> 200: {refreshed['accounts']} accounts scored\n"
            f"  then a score history: each of the last {days} days scored as a refresh on that "
            f"day would have (cxloop score --backfill {days}), in {seconds:.1f} s\n"
            f"  GET  {url}/v1/accounts -> 200: "
            + ", ".join(f"{n} {band}" for band, n in sorted(bands.items()))
            + "; the story's accounts:"
        )
        for account in listed["accounts"]:
            if account["account_id"] not in STORY_ACCOUNTS:
                continue
            echo(
                f"    {account['account_id']:<14} health {account['score']:5.1f} "
                f"({account['band']}, confidence {account['confidence']})"
            )
        _show_insights(url, bearer, echo)
        lake_glob = lake.uri("events", "**", "*.parquet")
        example = (
            "SELECT event, count(*) FROM read_parquet('%s', hive_partitioning=true) GROUP BY 1"
        )
        echo(
            "\nquery the lake yourself, e.g. with the duckdb CLI or Python:\n"
            f'  duckdb -c "{example % lake_glob}"\n'
            f"send your own events:\n  curl -u {write_key}: -H 'Content-Type: application/json' "
            f'-d \'{{"userId":"u1","event":"Signed Up"}}\' {url}/v1/track\n'
            f"read accounts, health and ratings (docs/health.md, docs/surveys.md):\n"
            f"  curl -H 'Authorization: Bearer {project.secret_key}' {url}/v1/accounts\n"
            f"  API reference: {url}/schema\n"
            f"metrics: {url}/metrics   readiness: {url}/readyz\n"
            f"\nthe demo SaaS app with the snippet pasted in, to click through a survey:\n"
            f"  {url}/demo/   (export a report for the CSAT; the NPS asks after 3 page views)"
        )
        people = asyncio.run(_demo_people(settings, project_id))
        console = f"{url}/console/"
        echo(f"\nthe CS console: {console}   (sign in as one of these; new passwords every run)")
        for role, person in people.items():
            echo(f"  {role:<8} {person['email']:<26} password {person['password']}")
        if emit_json is not None:
            emit_json(
                json.dumps(
                    {
                        "url": url,
                        "console_url": console,
                        "project_id": project_id,
                        "write_key": write_key,
                        "secret_key": project.secret_key,
                        "people": people,
                    }
                )
            )
        if keep_running:
            echo(f"\ncxloop is running at {url}; press Ctrl-C to stop.")
            server.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut this short and leave the server running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        signal.signal(signal.SIGINT, previous_sigint)
        signal.signal(signal.SIGTERM, previous_sigterm)
