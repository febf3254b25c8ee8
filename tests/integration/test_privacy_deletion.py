"""Deleting a data subject from a running server while ingest goes on: afterwards no file under
the data directory and no row in PostgreSQL holds any of their ids or values, every other
acked event is in the lake exactly once, and a replay of the subject's events stays out."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import httpx
import pyarrow.parquet as pq
import pytest

from cxloop.ingest import events_table
from cxloop.lake import DedupeIndex, compact_segment, events_dataset
from cxloop.wal import segments_in_flight
from tests.helpers.rows import wal_row
from tests.helpers.segments import BASE_US, DAY_US, segment_path, write_segment
from tests.helpers.server import Project, RunningServer, create_project, server_env

pytestmark = pytest.mark.slow

SUBJECT = "subj-7f3a9c21"
ANON = "anon-subj-55e1b0"
EMAIL = "subject.person+cx@example.org"
NAME = "Zedediah Quillfeather"
COMMENT = "zebracornish exports keep failing for me"
NEEDLES = [SUBJECT, ANON, EMAIL, NAME, "zebracornish"]
ACCOUNT = "acct-keep"
OTHERS = [f"other-{i}" for i in range(4)]
DAYS = 5


@pytest.fixture(scope="module")
def server_settings() -> dict[str, Any]:
    # A short refresh: the job waits 2 x key_refresh_s + 1 s for every process to suppress.
    return {"key_refresh_s": 0.5, "health_refresh_s": 1}


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def event(user: str, anonymous: str, days_ago: float, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "type": "track",
        "event": "Report Viewed",
        "userId": user,
        "anonymousId": anonymous,
        "messageId": str(uuid.uuid4()),
        "timestamp": iso(now - timedelta(days=days_ago)),
        "sentAt": iso(now),
        "properties": {"feature": "reports"},
        "context": {"groupId": ACCOUNT},
        **fields,
    }


def subject_batch() -> list[dict[str, Any]]:
    events = [event(SUBJECT, ANON, d + 0.1) for d in range(DAYS)]
    events.append(
        {**event(SUBJECT, ANON, 0.2), "type": "identify", "traits": {"email": EMAIL, "name": NAME}}
    )
    events.append({**event(SUBJECT, ANON, 0.2), "type": "group", "groupId": ACCOUNT})
    events.append(
        event(
            SUBJECT,
            ANON,
            0.3,
            event="Survey Responded",
            properties={
                "survey_id": "srv_privacy",
                "response_id": "r-subject-1",
                "kind": "nps",
                "score": 2,
                "comment": COMMENT,
                "partial": False,
            },
        )
    )
    # Failed events of the subject: a track without its event name, a bad type.
    events.append({**event(SUBJECT, ANON, 0.4), "event": None})
    events.append({**event(SUBJECT, ANON, 0.5), "type": "purchase"})
    return events


def other_batch(days: int = DAYS) -> list[dict[str, Any]]:
    return [event(user, f"anon-{user}", d + 0.25) for user in OTHERS for d in range(days)]


def post(client: httpx.Client, project: Project, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v1/batch", json={"batch": events}, headers=project.basic_auth)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def poll(what: str, check: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def rollup_user_keys(data_dir: Path, project_id: str) -> set[str]:
    keys: set[str] = set()
    root = data_dir / "lake" / "rollups" / "usage_user" / f"project_id={project_id}"
    for path in root.glob("date=*/*.parquet"):
        keys.update(pq.read_table(path, columns=["user_key"]).column("user_key").to_pylist())
    return keys


class Load:
    """Other users' events posted in a loop from a thread; what was acked is recorded."""

    def __init__(self, server: RunningServer, project: Project) -> None:
        self.server = server
        self.project = project
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with self.server.client() as client:
            while not self.stop.is_set():
                events = other_batch(days=2)
                try:
                    answer = post(client, self.project, events)
                except (httpx.HTTPError, AssertionError):
                    continue
                rejected = {r["index"] for r in answer.get("rejected", [])}
                self.acked.extend(e["messageId"] for i, e in enumerate(events) if i not in rejected)
                time.sleep(0.05)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def delete_via_cli(server: RunningServer, project: Project) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "privacy", "delete", "--project", project.id,
         "--user-id", SUBJECT, "--anonymous-id", ANON, "--wait", "--timeout", "150", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "queued" in out.stderr
    request: dict[str, Any] = json.loads(out.stdout)
    return request


def test_deletion_leaves_no_trace_and_loses_no_other_event(
    server: RunningServer, project: Project, module_database_url: str
) -> None:
    url = module_database_url
    with server.client() as client:
        subject_events = subject_batch()
        subject_body = {"batch": subject_events}
        answer = post(client, project, subject_events)
        assert len(answer["rejected"]) == 2  # the two failed events, logged as failed
        before = other_batch()
        assert post(client, project, before)["accepted"] == len(before)
    acked_before = [e["messageId"] for e in before]
    valid_subject = {e["messageId"] for e in subject_events[:-2]}

    # Everything reached every store: lake (events, failed), PostgreSQL, the usage rollups.
    server.wait_for_lake(valid_subject | set(acked_before), project.id)
    server.wait_for_lake({e["messageId"] for e in subject_events[-2:]}, project.id, "failed")
    poll(
        "the subject's analysed response",
        lambda: query(
            url,
            "SELECT 1 FROM survey_responses WHERE project_id = $1 AND user_id = $2 "
            "AND tokens IS NOT NULL",
            project.id,
            SUBJECT,
        ),
    )
    poll("the subject's user row with traits", lambda: query(
        url, "SELECT 1 FROM users WHERE project_id = $1 AND traits->>'email' = $2", project.id,
        EMAIL))  # fmt: skip
    poll(
        "rollups naming the subject",
        lambda: SUBJECT in rollup_user_keys(server.data_dir, project.id),
    )
    assert query(
        url, "SELECT 1 FROM alerts WHERE project_id = $1 AND user_id = $2", project.id, SUBJECT
    )
    # The search below finds the subject where they are (it would fail if it could not).
    seen = traces(server.data_dir, url)
    assert any(".parquet" in t for t in seen) and any(t.startswith("table ") for t in seen)

    with Load(server, project) as load:
        time.sleep(1.0)  # before
        request = delete_via_cli(server, project)  # during
        time.sleep(1.0)  # after
    assert load.acked, "the load acked nothing"

    assert request["status"] == "done", request
    assert request["subject"] is None and request["finished_at"]
    receipt = request["receipt"]
    assert receipt["lake"]["events"] == len(valid_subject)
    assert receipt["lake"]["failed"] == 2
    assert receipt["lake"]["files_rewritten"] + receipt["lake"]["files_removed"] >= DAYS
    assert receipt["postgres"]["users"] == 1
    assert receipt["postgres"]["survey_responses"] == 1
    assert receipt["postgres"]["alerts"] == 1
    assert receipt["postgres"]["memberships"] == 1
    assert receipt["rollups"]["days"] >= DAYS

    with server.client() as client:
        # A replay of the subject's batch is refused as deleted and never stored.
        replay = client.post("/v1/batch", json=subject_body, headers=project.basic_auth).json()
        reasons = Counter(r["reason"] for r in replay["rejected"])
        assert reasons["subject_deleted"] == len(subject_events), replay
        after = other_batch(days=1)
        assert post(client, project, after)["accepted"] == len(after)
    acked = acked_before + load.acked + [e["messageId"] for e in after]
    server.wait_for_lake(set(acked), project.id)
    poll("the WAL drained", lambda: not segments_in_flight(server.data_dir / "wal", time.time_ns()))
    time.sleep(1.5)  # a health refresh or two after the deletion (they must not bring it back)

    lake_ids = Counter(server.lake_ids(project.id))
    assert not [i for i in acked if lake_ids[i] != 1], "an acked event was lost or duplicated"
    assert not valid_subject & set(lake_ids)
    assert not {e["messageId"] for e in subject_events} & set(server.lake_ids(project.id, "failed"))
    others_kept = query(url, "SELECT count(*) AS n FROM users WHERE project_id = $1", project.id)
    assert others_kept[0]["n"] == len(OTHERS)

    found = traces(server.data_dir, url)
    assert not found, found


def traces(data_dir: Path, url: str, needles: list[str] | None = None) -> list[str]:
    """Where any of the subject's ids or values is found, in files and in PostgreSQL."""
    needles = needles if needles is not None else NEEDLES
    found: list[str] = []
    # Every Parquet file (lake, failed, rollups), all columns as text.
    parquet = sorted(data_dir.rglob("*.parquet"))
    assert parquet
    with duckdb.connect() as db:
        for path in parquet:
            source = str(path).replace("'", "''")
            rows = db.execute(f"SELECT CAST(COLUMNS(*) AS VARCHAR) FROM read_parquet('{source}')")
            for row in rows.fetchall():
                text = "\x1f".join(v for v in row if v is not None)
                found += [f"{path}: {n}" for n in needles if n in text]
    # Every other file's bytes: WAL segments, state, logs.
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file() and p.suffix != ".parquet"):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # a temp file renamed meanwhile (the metrics snapshot): read where it went
        found += [f"{path}: {n}" for n in needles if n.encode() in data]
    # Every table of the database, each row as text.
    tables = query(
        url,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    for table in tables:
        name = table["table_name"].replace('"', '""')
        for record in query(url, f'SELECT t::text AS row FROM "{name}" AS t'):
            found += [f"table {name}: {n}" for n in needles if n in record["row"]]
    return found


GONE = "acct-gone-77"
GONE_NAME = "Gonecorp Holdings"


def test_deleting_an_account_removes_it_and_its_usage_but_not_its_people(
    server: RunningServer, project: Project, module_database_url: str
) -> None:
    url = module_database_url
    people = ["acct-user-1", "acct-user-2"]
    events: list[dict[str, Any]] = []
    for user in people:
        events.append({**event(user, f"anon-{user}", 0.2), "type": "group", "groupId": GONE,
                       "traits": {"name": GONE_NAME, "plan": "pro"}})  # fmt: skip
        events += [{**event(user, f"anon-{user}", d + 0.3), "context": {"groupId": GONE}}
                   for d in range(3)]  # fmt: skip
    kept = [
        event(user, f"anon-{user}", 0.5) | {"context": {"groupId": "acct-stays"}} for user in people
    ]
    with server.client() as client:
        assert post(client, project, events + kept)["accepted"] == len(events) + len(kept)
    server.wait_for_lake({e["messageId"] for e in events + kept}, project.id)
    poll("the account row", lambda: query(
        url, "SELECT 1 FROM accounts WHERE project_id = $1 AND account_id = $2", project.id, GONE))  # fmt: skip

    def usage_names_it() -> bool:
        root = server.data_dir / "lake" / "rollups" / "usage_feature" / f"project_id={project.id}"
        return any(
            GONE in pq.read_table(p, columns=["account_id"]).column("account_id").to_pylist()
            for p in root.glob("date=*/*.parquet")
        )

    poll("usage rollups of the account", usage_names_it)

    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "privacy", "delete", "--project", project.id,
         "--account-id", GONE, "--wait", "--timeout", "150", "--json"],
        env=server.env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    request = json.loads(out.stdout)
    assert request["status"] == "done", request
    receipt = request["receipt"]
    assert receipt["postgres"]["accounts"] == 1 and receipt["postgres"]["memberships"] == 2
    assert receipt["lake"]["events"] == len(events)

    time.sleep(1.5)  # a health refresh after the deletion must not bring it back
    found = traces(server.data_dir, url, [GONE, GONE_NAME])
    assert not found, found
    lake_ids = set(server.lake_ids(project.id))
    assert {e["messageId"] for e in kept} <= lake_ids
    assert not {e["messageId"] for e in events} & lake_ids
    assert len(query(url, "SELECT 1 FROM users WHERE project_id = $1 AND user_id = any($2)",
                     project.id, people)) == 2  # fmt: skip


def test_the_cli_deletes_in_process_when_no_serve_runs(database_url: str, tmp_path: Path) -> None:
    """No serve for the data directory: the command works the job itself, under serve.lock."""
    project = create_project(database_url, "offline")
    rows = [
        wal_row(f"m{i}", project.id, user_id=SUBJECT if i % 3 == 0 else f"u{i}", timestamp=BASE_US + i * DAY_US // 4, received_at=BASE_US + i)
        for i in range(12)
    ]  # fmt: skip
    index = DedupeIndex(tmp_path / "state" / "dedupe.sqlite")
    try:
        segment = write_segment(segment_path(tmp_path / "wal" / "w0", 1), [rows])
        compact_segment(
            segment,
            expand=events_table,
            lake_dir=tmp_path / "lake",
            index=index,
            corrupt_dir=tmp_path / "wal" / "corrupt",
        )
    finally:
        index.close()
    segment.unlink()  # in the lake and (as if) projected
    query(
        database_url,
        "INSERT INTO users (project_id, user_id, traits, first_seen_at, last_seen_at) "
        "VALUES ($1, $2, $3::jsonb, now(), now())",
        project.id,
        SUBJECT,
        json.dumps({"email": EMAIL}),
    )
    env = server_env(tmp_path, database_url)
    out = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "privacy", "delete", "--project", "offline",
         "--user-id", SUBJECT],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "no cxloop serve runs" in out.stdout and "deleting here" in out.stdout
    assert "done:" in out.stdout and "users 1" in out.stdout
    assert "lake: 4 events" in out.stdout
    remaining = events_dataset(tmp_path / "lake").to_table().column("user_id").to_pylist()
    assert len(remaining) == 8 and SUBJECT not in remaining
    assert not query(database_url, "SELECT 1 FROM users WHERE user_id = $1", SUBJECT)
    [request] = query(database_url, "SELECT status, subject FROM privacy_requests")
    assert (request["status"], request["subject"]) == ("done", None)


async def test_purge_removes_every_row_of_the_subject_and_only_theirs(
    conn: asyncpg.Connection,
) -> None:
    """Every table purge_subject touches, with a bystander's rows beside the subject's."""
    from cxloop.privacy.purge import SubjectIds, purge_subject

    p = "prj_purge"
    await conn.execute(
        "INSERT INTO projects (id, name, write_key, secret_key_hash, secret_key_prefix) "
        "VALUES ($1, 'purge', 'wk_purge', 'hash', 'sk_')",
        p,
    )
    for user in (SUBJECT, "bystander"):
        await conn.execute(
            "INSERT INTO users (project_id, user_id, traits, first_seen_at, last_seen_at) "
            "VALUES ($1, $2, '{}', now(), now())",
            p,
            user,
        )
        await conn.execute(
            "INSERT INTO memberships (project_id, user_id, account_id, first_seen_at, last_seen_at,"
            " last_group_call_at) VALUES ($1, $2, 'acct-a', now(), now(), now())",
            p,
            user,
        )
    responses = [("r-sub", SUBJECT, ["zebracornish", "export"]), ("r-by", "bystander", ["export"])]
    for response_id, user, tokens in responses:
        await conn.execute(
            "INSERT INTO survey_responses (project_id, response_id, kind, score, comment, user_id,"
            " account_id, partial, message_id, responded_at, updated_at, tokens) "
            "VALUES ($1, $2, 'nps', 2, 'text', $3, 'acct-a', false, $2, now(), now(), $4)",
            p,
            response_id,
            user,
            tokens,
        )
        await conn.execute(
            "INSERT INTO alerts (project_id, response_id, kind, score, user_id, responded_at, "
            "notes) VALUES ($1, $2, 'nps', 2, $3, now(), '[{\"text\": \"called them\"}]')",
            p,
            response_id,
            user,
        )
        await conn.execute(
            "INSERT INTO survey_impressions (project_id, message_id, event, user_id, occurred_at) "
            "VALUES ($1, $2, 'shown', $3, now())",
            p,
            f"imp-{response_id}",
            user,
        )
    await conn.execute(
        "INSERT INTO comment_term_df (project_id, term, docs) "
        "VALUES ($1, '', 2), ($1, 'export', 2), ($1, 'zebracornish', 1)",
        p,
    )
    await conn.execute(
        "INSERT INTO webhooks (project_id, id, url, secret, events) "
        "VALUES ($1, 'whk_1', 'https://example.org/h', 's', '{alert.opened}')",
        p,
    )
    for event_id, user, status in [("e1", SUBJECT, "pending"), ("e2", SUBJECT, "succeeded"),
                                   ("e3", "bystander", "pending")]:  # fmt: skip
        await conn.execute(
            "INSERT INTO webhook_deliveries (project_id, webhook_id, event_id, event_type, "
            "payload, status) VALUES ($1, 'whk_1', $2, 'alert.opened', $3::jsonb, $4)",
            p,
            event_id,
            json.dumps({"data": {"alert": {"user_id": user, "comment": "text"}}}),
            status,
        )
    await conn.execute(
        "INSERT INTO projection_quarantine (project_id, message_id, reason, detail) "
        "VALUES ($1, 'q-sub', 'database_refused', 'x'), ($1, 'q-by', 'database_refused', 'x')",
        p,
    )

    async with conn.transaction():
        counts = await purge_subject(
            conn, p, SubjectIds(user_id=SUBJECT), request_id="del_1", message_ids=["q-sub"]
        )
    assert counts == {
        "survey_responses": 1, "comment_term_df": 3, "survey_impressions": 1, "alerts": 1,
        "users": 1, "memberships": 1, "accounts": 0, "health_snapshots": 0,
        "webhook_deliveries": 2, "projection_quarantine": 1,
    }  # fmt: skip
    df = {
        r["term"]: r["docs"]
        for r in await conn.fetch("SELECT term, docs FROM comment_term_df WHERE project_id = $1", p)
    }
    assert df == {"": 1, "export": 1}  # a word only the subject wrote is gone
    deliveries = {
        r["event_id"]: r["payload"]
        for r in await conn.fetch("SELECT event_id, payload::text FROM webhook_deliveries")
    }
    assert set(deliveries) == {"e2", "e3"}  # the pending one about the subject is not sent
    assert json.loads(deliveries["e2"]) == {"redacted": "del_1"}
    tables = ["users", "memberships", "survey_responses", "alerts", "survey_impressions",
              "webhook_deliveries", "projection_quarantine"]  # fmt: skip
    rows = [r for table in tables for r in await conn.fetch(f"SELECT * FROM {table}")]
    dump = " ".join(str(tuple(r)) for r in rows)
    assert SUBJECT not in dump and "q-sub" not in dump
    assert dump.count("bystander") >= 5

    # An account: its row, snapshots, memberships, responses attributed to it.
    await conn.execute(
        "INSERT INTO accounts (project_id, account_id, traits, first_seen_at, last_seen_at) "
        "VALUES ($1, 'acct-a', '{\"name\": \"A\"}', now(), now())",
        p,
    )
    await conn.execute(
        "INSERT INTO health_snapshots (project_id, account_id, day, score, band, confidence, "
        "components, drivers) VALUES ($1, 'acct-a', current_date, 50, 'yellow', 'normal', "
        "'{}', '[]')",
        p,
    )
    async with conn.transaction():
        counts = await purge_subject(
            conn, p, SubjectIds(account_id="acct-a"), request_id="del_2", message_ids=[]
        )
    assert (counts["accounts"], counts["health_snapshots"], counts["memberships"]) == (1, 1, 1)
    assert counts["survey_responses"] == 1 and counts["users"] == 0
    assert await conn.fetchval("SELECT count(*) FROM users WHERE project_id = $1", p) == 1


async def test_a_transient_error_is_retried_and_a_bug_fails_the_request(
    conn: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cxloop.ops import Registry
    from cxloop.privacy.jobs import DeletionJobs
    from cxloop.privacy.store import create_deletion, get_request
    from cxloop.settings import Settings

    p = "prj_jobs"  # a plain connection: no JSON codecs, as the CLI's
    await conn.execute(
        "INSERT INTO projects (id, name, write_key, secret_key_hash, secret_key_prefix) "
        "VALUES ($1, 'jobs', 'wk_jobs', 'hash', 'sk_')",
        p,
    )
    index = DedupeIndex(tmp_path / "state" / "dedupe.sqlite")
    try:
        rows = [wal_row(f"m{i}", p, user_id=SUBJECT if i % 2 else "u-other") for i in range(6)]
        compact_segment(
            write_segment(segment_path(tmp_path / "wal" / "w0", 1), [rows]),
            expand=events_table,
            lake_dir=tmp_path / "lake",
            index=index,
            corrupt_dir=tmp_path / "wal" / "corrupt",
        )
    finally:
        index.close()
    for segment in (tmp_path / "wal" / "w0").iterdir():
        segment.unlink()
    registry = Registry()
    jobs = DeletionJobs(Settings(data_dir=tmp_path), registry, wait_for_workers=False)

    # The disk fails: the request stays running, says why, and goes on once it is back.
    request = await create_deletion(conn, p, user_id=SUBJECT, requested_by="test")

    def failing_read(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the disk went away")

    monkeypatch.setattr("cxloop.privacy.jobs.pq.read_table", failing_read)
    assert await jobs.step_with(conn) == 0
    stuck = await get_request(conn, p, request.id)
    assert stuck is not None and stuck.status == "running"
    assert stuck.error == "will retry: the disk went away"
    monkeypatch.undo()
    done = None
    for _ in range(20):
        await jobs.step_with(conn)
        done = await get_request(conn, p, request.id)
        assert done is not None
        if done.status == "done":
            break
    assert done is not None and done.status == "done" and done.error is None
    assert done.receipt["lake"]["events"] == 3
    assert registry.counter("cxloop_privacy_deletions_total", "", ["status"]).values == {
        ("done",): 1.0
    }

    # A file that is not Parquet (a bug, or damage no retry mends): failed, with the reason.
    bad = tmp_path / "lake" / "events" / f"project_id={p}" / "date=2026-11-24" / "part-bad.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not parquet at all")
    second = await create_deletion(conn, p, user_id="someone-else", requested_by="test")
    for _ in range(5):
        await jobs.step_with(conn)
    failed = await get_request(conn, p, second.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and "ArrowInvalid" in failed.error
    assert failed.subject is not None  # kept: the request can be looked into and made again
