"""Comments end to end: the real ingest → the real pipeline (projection, then the comment
analysis) → /v1/insights/{verbatims,topics,terms,suggested-topics,config} and /v1/alerts.

The figures the routes answer are checked against references computed here from what was sent
(scores) and what the verbatims route says each comment was found to be about."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cxloop.cli import cli
from cxloop.text import BUILTIN_TOPICS, MAX_CHARS
from tests.helpers.server import Project, RunningServer

RUN = uuid.uuid4().hex[:6]
KEY_COMMENT = "导出太慢了，我们正在考虑换别的工具"

# (response id, score, comment or None, account)
RESPONSES: list[tuple[str, int, str | None, str]] = [
    ("key", 8, KEY_COMMENT, "acct_a"),
    ("tw", 3, "導出太慢了，我們正在考慮換別的工具", "acct_b"),
    ("en", 4, "The dashboard is really slow to load", "acct_b"),
    ("mixed", 5, "dashboard 加载太慢", "acct_c"),
    ("slow1", 2, "导出太慢，经常卡住", "acct_c"),
    ("slow2", 6, "报表加载太慢", "acct_a"),
    ("praise1", 10, "非常好用，客服很专业", "acct_a"),
    ("praise2", 9, "界面很好用，上手快", "acct_b"),
    ("praise3", 10, "好用，推荐给同事了", "acct_c"),
    ("dark1", 7, "希望增加暗黑模式", "acct_a"),
    ("dark2", 8, "暗黑模式什么时候有", "acct_b"),
    ("dark3", 7, "能不能支持暗黑模式", "acct_c"),
    ("feishu", 9, "我们打算换飞书了", "acct_a"),
    ("report", 10, "智能报表很好用", "acct_b"),
    ("emoji", 9, "👍👍🎉", "acct_c"),
    ("huge", 5, ("导出太慢 " * 2_000)[:10_000], "acct_a"),  # the ingest's comment limit
    ("quiet1", 10, None, "acct_a"),
    ("quiet2", 0, None, "acct_b"),
    ("quiet3", 7, None, "acct_c"),
]
COMMENTED = [r for r in RESPONSES if r[2] is not None]


def rid(name: str) -> str:
    return f"{name}_{RUN}"


def rating(response_id: str, score: float, comment: str | None, account: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "survey_id": "srv_text",
        "response_id": response_id,
        "kind": "nps",
        "score": score,
    }
    if comment is not None:
        properties["comment"] = comment
    return {
        "type": "track",
        "event": "Survey Responded",
        "userId": f"u_{response_id}",
        "messageId": str(uuid.uuid4()),
        "properties": properties,
        "context": {"groupId": account, "locale": "zh-CN"},
    }


def send(server: RunningServer, project: Project, events: list[dict[str, Any]]) -> Any:
    with server.client(headers=project.basic_auth) as client:
        answer = client.post("/v1/batch", json={"batch": events})
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_until(check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s; last value {value!r}")
        time.sleep(0.2)


def api(server: RunningServer, project: Project) -> httpx.Client:
    return server.client(headers=project.bearer)


def get(client: httpx.Client, path: str, **params: Any) -> Any:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def verbatims(client: httpx.Client, **params: Any) -> dict[str, dict[str, Any]]:
    page = get(client, "/v1/insights/verbatims", limit=1000, **params)
    return {v["response_id"]: v for v in page["verbatims"]}


def analysed(client: httpx.Client, expected: int) -> dict[str, dict[str, Any]] | None:
    config = get(client, "/v1/insights/config")
    shown = verbatims(client)
    done = len(shown) == expected and all(v["analysed"] for v in shown.values())
    return shown if done and config["pending_comments"] == 0 else None


@pytest.fixture(scope="module")
def sent(server: RunningServer, project: Project) -> dict[str, dict[str, Any]]:
    """Every response sent once through the ingest; the verbatims once all are analysed."""
    answer = send(server, project, [rating(rid(n), s, c, a) for n, s, c, a in RESPONSES])
    assert answer["accepted"] == len(RESPONSES), answer
    with api(server, project) as client:
        shown: dict[str, dict[str, Any]] = wait_until(lambda: analysed(client, len(COMMENTED)))
    return shown


def test_the_issue_example_is_analysed_and_opens_an_alert_at_score_8(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    key = sent[rid("key")]
    assert key["comment"] == KEY_COMMENT and key["score"] == 8 and key["segment"] == "passive"
    assert {"performance", "integration_import_export"} <= set(key["topics"])
    assert (key["language"], key["sentiment"], key["churn_intent"]) == ("zh-CN", "negative", True)
    assert key["agreement"] in ("agrees", "disagrees", "neutral")
    # TF-IDF against the project's comments: words in many of them (导出, 太慢) sink.
    assert key["keywords"] and all(word in KEY_COMMENT for word in key["keywords"])
    assert key["keywords"][0] not in ("导出", "太慢"), key["keywords"]
    with api(server, project) as client:
        alerts = get(client, "/v1/alerts", reason="churn_intent", limit=1000)["alerts"]
        (alert,) = [a for a in alerts if a["response_id"] == rid("key")]
        assert alert["status"] == "open" and alert["reasons"] == ["churn_intent"]
        assert alert["analysis"]["churn_intent"] is True
        assert alert["analysis"]["sentiment"] == "negative"
        assert "performance" in alert["analysis"]["topics"]
        # Passive and promoter comments without churn intent open nothing.
        responded = {a["response_id"] for a in get(client, "/v1/alerts", limit=1000)["alerts"]}
        assert rid("dark2") not in responded and rid("praise1") not in responded


def test_languages_and_the_huge_and_emoji_comments(sent: dict[str, dict[str, Any]]) -> None:
    assert sent[rid("tw")]["language"] == "zh-TW"
    assert sent[rid("tw")]["comment"].startswith("導出")  # the original text is kept
    assert sent[rid("tw")]["churn_intent"] is True
    assert sent[rid("en")]["language"] == "en"
    assert sent[rid("mixed")]["language"] == "mixed"
    assert "performance" in sent[rid("mixed")]["topics"]
    assert sent[rid("en")]["sentiment"] == "negative"
    assert sent[rid("praise1")]["sentiment"] == "positive"
    assert len(sent[rid("huge")]["comment"]) == 10_000
    assert sent[rid("huge")]["analysed"] and "performance" in sent[rid("huge")]["topics"]
    assert sent[rid("huge")]["sentiment"] in ("negative", "mixed")
    assert sent[rid("emoji")]["analysed"] and sent[rid("emoji")]["sentiment"] == "positive"


def test_the_pipeline_counts_what_it_analysed_in_metrics(
    server: RunningServer, sent: dict[str, dict[str, Any]]
) -> None:
    def analysed_total() -> float:
        with server.client() as client:
            text = client.get("/metrics").text
        values = [
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("cxloop_comments_analysed_total")
        ]
        return values[0] if values else 0.0

    assert wait_until(lambda: analysed_total() >= len(COMMENTED))


def test_verbatims_filter_and_page_newest_first(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    with api(server, project) as client:
        churn = verbatims(client, churn_intent="true")
        assert set(churn) == {r for r, v in sent.items() if v["churn_intent"]}
        assert rid("key") in churn
        performance = verbatims(client, topic="performance", sentiment="negative")
        assert set(performance) == {
            r
            for r, v in sent.items()
            if "performance" in v["topics"] and v["sentiment"] == "negative"
        }
        assert set(verbatims(client, language="zh-TW")) == {rid("tw")}
        assert set(verbatims(client, segment="promoter", account="acct_a")) == {
            rid(n) for n, s, c, a in COMMENTED if s >= 9 and a == "acct_a"
        }
        assert set(verbatims(client, score_min=7, score_max=8)) == {
            rid(n) for n, s, _, _ in COMMENTED if 7 <= s <= 8
        }
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 4}
        while True:
            page = get(client, "/v1/insights/verbatims", **params)
            seen += [v["responded_at"] + v["response_id"] for v in page["verbatims"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert len(seen) == len(COMMENTED) == len(set(seen))
        assert seen == sorted(seen, reverse=True)


def nps(scores: list[int]) -> float:
    return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def test_topics_against_a_reference_from_the_sent_scores(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    with api(server, project) as client:
        answer = get(client, "/v1/insights/topics")
        zh = get(client, "/v1/insights/topics", lang="zh-CN")
    scores = {rid(n): s for n, s, _, _ in RESPONSES}
    assert answer["kind"] == "nps" and answer["comments"] == len(COMMENTED)
    assert answer["responses"] == len(RESPONSES)
    assert answer["overall_net_score"] == pytest.approx(nps(list(scores.values())))
    rows = {row["topic"]: row for row in answer["topics"]}
    assert len(rows) >= 12  # the built-in taxonomy, every enabled topic
    mentioned = Counter(t for v in sent.values() for t in v["topics"])
    for topic, row in rows.items():
        ids = [r for r, v in sent.items() if topic in v["topics"]]
        assert row["comments"] == mentioned[topic] == len(ids)
        assert row["share"] == pytest.approx(len(ids) / len(COMMENTED))
        mix = Counter(sent[r]["sentiment"] for r in ids)
        assert row["sentiment"] == {k: mix[k] for k in ("positive", "negative", "neutral", "mixed")}
        if not ids:
            assert row["metric"] is None and row["quadrant"] is None
            continue
        topic_scores = [scores[r] for r in ids]
        assert row["metric"] == pytest.approx(nps(topic_scores))
        assert row["metric_low"] <= row["metric"] <= row["metric_high"] or len(ids) < 3
        without = [s for r, s in scores.items() if not (r in ids and s <= 6)]
        assert row["nps_impact"] == pytest.approx(nps(list(scores.values())) - nps(without))
    # The priority matrix: cut at the medians of the placed topics.
    placed = [r for r in rows.values() if r["quadrant"] is not None]
    importance = sorted(r["importance"] for r in placed)
    performance = sorted(r["performance"] for r in placed)

    def median(values: list[float]) -> float:
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    for row in placed:
        high = row["importance"] >= median(importance)
        low = row["performance"] < median(performance)
        expected = {
            (True, True): "fix_first",
            (True, False): "keep_up",
            (False, True): "low_priority",
            (False, False): "overkill",
        }
        assert row["quadrant"] == expected[(high, low)], row
    assert rows["performance"]["quadrant"] == "fix_first"
    names = {row["topic"]: row["name"] for row in zh["topics"]}
    builtin = next(t for t in BUILTIN_TOPICS if t.id == "performance").names
    assert names["performance"] == builtin["zh-CN"]
    assert rows["performance"]["name"] == builtin["en"]


def test_topics_and_terms_export_as_csv_and_parquet(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    with api(server, project) as client:
        rows = get(client, "/v1/insights/topics")["topics"]
        csv = client.get("/v1/insights/topics", params={"format": "csv"})
        parquet = client.get("/v1/insights/terms", params={"format": "parquet"})
        terms = get(client, "/v1/insights/terms")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("topic,name,builtin,comments,share")
    assert len(lines) == 1 + len(rows)
    assert parquet.status_code == 200
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == len(terms["detractor_terms"]) + len(terms["promoter_terms"])


def test_distinctive_terms_of_detractors_and_promoters(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    with api(server, project) as client:
        answer = get(client, "/v1/insights/terms")
    assert answer["detractor_comments"] == sum(1 for n, s, c, _ in COMMENTED if s <= 6)
    assert answer["promoter_comments"] == sum(1 for n, s, c, _ in COMMENTED if s >= 9)
    detractor_terms = [t["term"] for t in answer["detractor_terms"]]
    promoter_terms = [t["term"] for t in answer["promoter_terms"]]
    assert "太慢" in detractor_terms[:5], detractor_terms
    assert "好用" in promoter_terms[:5], promoter_terms
    assert all(t["z"] > 0 for t in answer["detractor_terms"] + answer["promoter_terms"])
    slow = next(t for t in answer["detractor_terms"] if t["term"] == "太慢")
    # Occurrences: the huge comment repeats it, as far as the analysis reads (MAX_CHARS).
    assert slow["count_detractors"] >= MAX_CHARS // len("导出太慢 ")
    assert slow["count_promoters"] == 0
    assert not set(detractor_terms) & set(promoter_terms)


def test_suggested_topics_are_phrases_no_topic_covers(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    with api(server, project) as client:
        answer = get(client, "/v1/insights/suggested-topics")
        fewer = get(client, "/v1/insights/suggested-topics", min_count=10)
    phrases = {s["phrase"]: s["comments"] for s in answer["suggestions"]}
    assert phrases.get("暗黑模式") == 3, answer
    assert answer["comments"] == len(COMMENTED)
    assert "暗黑模式" not in {s["phrase"] for s in fewer["suggestions"]}


def test_a_new_configuration_reanalyses_everything_and_changes_the_answers(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    with api(server, project) as client:
        before = get(client, "/v1/insights/config")
        assert sent[rid("feishu")]["competitors"] == []
        assert "智能报表" not in sent[rid("report")]["keywords"]
        answer = client.put(
            "/v1/insights/config",
            json={
                "user_dictionary": ["智能报表"],
                "topics": [{"id": "performance", "names": {"zh-CN": "速度", "en": "Speed"}}],
                "competitors": ["飞书"],
                "user_traits": ["role"],
            },
        )
        assert answer.status_code == 200, answer.text
        config = answer.json()
        assert config["version"] == before["version"] + 1
        assert config["pending_comments"] == len(COMMENTED)  # every comment is redone
        assert config["config"]["competitors"] == ["飞书"]
        performance = next(t for t in config["topics"] if t["id"] == "performance")
        assert performance["names"]["zh-CN"] == "速度" and performance["builtin"] is True
        after = wait_until(lambda: analysed(client, len(COMMENTED)))
        assert after[rid("feishu")]["competitors"] == ["飞书"]
        assert "智能报表" in after[rid("report")]["keywords"]
        names = {
            t["topic"]: t["name"]
            for t in get(client, "/v1/insights/topics", lang="zh-CN")["topics"]
        }
        assert names["performance"] == "速度"
        (alert,) = [
            a
            for a in get(client, "/v1/alerts", reason="competitor")["alerts"]
            if a["response_id"] == rid("feishu")
        ]
        assert alert["reasons"] == ["churn_intent", "competitor"]
        assert alert["analysis"]["competitors"] == ["飞书"]
        # The document frequencies stayed exact through the re-analysis: the keywords of a
        # comment whose tokens did not change are the same as before.
        assert after[rid("key")]["keywords"] == sent[rid("key")]["keywords"]
        assert get(client, "/v1/insights/config")["version"] == config["version"]


RECOUNT = """
WITH ref AS (
    SELECT t.term, count(*) AS docs
    FROM survey_responses AS r, LATERAL (SELECT DISTINCT unnest(r.tokens) AS term) AS t
    WHERE r.project_id = $1 AND r.tokens IS NOT NULL
    GROUP BY t.term
    UNION ALL
    SELECT '', count(*) FROM survey_responses WHERE project_id = $1 AND tokens IS NOT NULL
)
SELECT coalesce(ref.term, d.term) AS term, ref.docs AS expected, d.docs AS kept
FROM ref
FULL JOIN (SELECT term, docs FROM comment_term_df WHERE project_id = $1 AND docs > 0) AS d
    USING (term)
WHERE ref.docs IS DISTINCT FROM d.docs
"""


def test_document_frequencies_equal_a_recount_after_the_reanalysis(
    module_database_url: str, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    async def check() -> tuple[list[Any], int]:
        conn = await asyncpg.connect(module_database_url)
        try:
            differing = await conn.fetch(RECOUNT, project.id)
            documents = await conn.fetchval(
                "SELECT docs FROM comment_term_df WHERE project_id = $1 AND term = ''",
                project.id,
            )
            return [dict(r) for r in differing], documents
        finally:
            await conn.close()

    differing, documents = asyncio.run(check())
    assert differing == [] and documents == len(COMMENTED)


def cxloop(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_commands_answer_what_the_api_answers(
    server: RunningServer,
    project: Project,
    module_database_url: str,
    sent: dict[str, dict[str, Any]],
) -> None:
    database = ("--database-url", module_database_url)
    with api(server, project) as client:
        topics = get(client, "/v1/insights/topics", plan="none-such")
        verbatims_api = get(client, "/v1/insights/verbatims", limit=5, topic="performance")
        terms_api = get(client, "/v1/insights/terms")
    as_json = json.loads(
        cxloop("insights", "topics", "--project", project.id, "--plan", "none-such", "--json",
               *database)
    )  # fmt: skip
    assert as_json == topics
    shown = json.loads(
        cxloop("insights", "verbatims", "--project", "acme", "--topic", "performance",
               "--limit", "5", "--json", *database)
    )  # fmt: skip
    assert shown["verbatims"] == verbatims_api["verbatims"]
    table = cxloop("insights", "terms", "--project", project.id, *database)
    assert terms_api["detractor_terms"][0]["term"] in table
    table = cxloop("insights", "topics", "--project", project.id, "--lang", "zh-CN", *database)
    assert "fix_first" in table and f"{len(COMMENTED)} analysed comments" in table
    # reanalyse takes whatever is pending (the pipeline may have taken it first).
    with api(server, project) as client:
        assert client.put("/v1/insights/config", json={"competitors": ["飞书"]}).status_code == 200
        out = cxloop("insights", "reanalyse", "--project", project.id, *database)
        assert "comment(s) analysed" in out
        assert get(client, "/v1/insights/config")["pending_comments"] == 0
        wait_until(lambda: analysed(client, len(COMMENTED)))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"topics": [{"id": "performance", "colour": "red"}]}, ["colour"]),
        (
            {"user_dictionary": [1, "a\u0000b", "x" * 500]},
            ["user_dictionary[0]", "user_dictionary[1]", "user_dictionary[2]"],
        ),
        (
            {"competitors": "Notion", "user_traits": [7], "mood": 1},
            ["competitors", "user_traits[0]", "mood"],
        ),
        ({"topics": [{"id": "Bad Id!", "terms": ["x"]}]}, ["topics[0].id"]),
    ],
)
def test_bad_configurations_get_one_400_listing_every_problem(
    server: RunningServer, project: Project, body: dict[str, Any], expected: list[str]
) -> None:
    with api(server, project) as client:
        version = get(client, "/v1/insights/config")["version"]
        answer = client.put("/v1/insights/config", json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()
        assert error["code"] == "invalid_config"
        assert len(error["problems"]) >= len(expected)
        for name in expected:
            assert name in error["message"], (name, error)
        assert get(client, "/v1/insights/config")["version"] == version  # nothing saved


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/v1/insights/topics", {"colour": "red"}, "unknown_parameter"),
        ("/v1/insights/verbatims", {"sentiment": "angry"}, None),
        ("/v1/insights/terms", {"from": "2026-02-01", "to": "2026-01-01"}, "invalid_request"),
        ("/v1/insights/topics", {"lang": "fr"}, None),
        ("/v1/insights/verbatims", {"cursor": "bm90LWEtY3Vyc29y"}, "invalid_cursor"),
        ("/v1/insights/topics", {"topic": "a\u0000b"}, None),
    ],
)
def test_bad_parameters_are_400s(
    server: RunningServer, project: Project, path: str, params: dict[str, str], code: str | None
) -> None:
    with api(server, project) as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"]
    if code is not None:
        assert answer.json()["code"] == code


def test_comments_the_ingest_refuses_or_cleans(
    server: RunningServer, project: Project, sent: dict[str, dict[str, Any]]
) -> None:
    # 50 KB of emoji is beyond the event size limit: refused with a reason, nothing stored.
    emoji = "😀" * 12_800
    answer = send(server, project, [rating(rid("emoji50k"), 9, emoji, "acct_a")])
    assert answer["accepted"] == 0
    (rejected,) = answer["rejected"]
    assert rejected["reason"] == "event_too_large" and "limit" in rejected["detail"]
    # Just under it (28 KB of emoji, 7,000 characters) it is analysed without error; so is a
    # comment with a NUL, which the ingest refuses or stores without it.
    answer = send(server, project, [rating(rid("emoji28k"), 9, "😀" * 7_000, "acct_a")])
    assert answer["accepted"] == 1
    nul = send(server, project, [rating(rid("nul"), 3, "导出\u0000太慢", "acct_a")])
    with api(server, project) as client:
        expected = len(COMMENTED) + 1 + nul["accepted"]
        shown = wait_until(lambda: analysed(client, expected))
    assert shown[rid("emoji28k")]["sentiment"] in ("positive", "neutral")
    if nul["accepted"]:
        assert "\x00" not in shown[rid("nul")]["comment"]
        assert shown[rid("nul")]["sentiment"] == "negative"
    else:
        assert nul["rejected"][0]["detail"]


def test_tenants_see_only_their_own_comments(
    server: RunningServer,
    project: Project,
    other_project: Project,
    sent: dict[str, dict[str, Any]],
) -> None:
    with api(server, other_project) as client:
        assert get(client, "/v1/insights/verbatims")["verbatims"] == []
        topics = get(client, "/v1/insights/topics")
        assert topics["comments"] == 0 and topics["responses"] == 0
        assert all(t["comments"] == 0 for t in topics["topics"])
        terms = get(client, "/v1/insights/terms")
        assert terms["detractor_terms"] == terms["promoter_terms"] == []
        assert get(client, "/v1/insights/suggested-topics")["suggestions"] == []
        config = get(client, "/v1/insights/config")
        assert config["config"]["competitors"] == [] and config["pending_comments"] == 0
        assert get(client, "/v1/alerts", reason="churn_intent")["alerts"] == []
        # A filter naming the other project's account finds nothing either.
        assert get(client, "/v1/insights/verbatims", account="acct_a")["verbatims"] == []
        saved = client.put("/v1/insights/config", json={"competitors": ["Globex"]})
        assert saved.status_code == 200
    with api(server, project) as client:
        assert "Globex" not in get(client, "/v1/insights/config")["config"]["competitors"]
    with server.client() as anonymous:
        assert anonymous.get("/v1/insights/topics").status_code == 401


async def test_two_analysers_share_a_backlog_and_keep_the_frequencies_exact(
    conn: asyncpg.Connection, database_url: str
) -> None:
    """The pipeline and `cxloop insights reanalyse` at once: every comment analysed once per
    version, no deadlock, document frequencies equal to a recount, then again after a
    configuration change that moves tokens (a user dictionary word)."""
    from datetime import UTC, datetime

    from cxloop.db import create_pool
    from cxloop.insights import analyse_pending, pending_comments
    from cxloop.insights.config import InsightsConfig, save_config
    from cxloop.projects.service import create_project

    project = await create_project(conn, "twins")
    texts = [c for _, _, c, _ in COMMENTED if c is not None and len(c) < 100]
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "survey_responses",
        records=[
            (
                project.id,
                f"r{i}",
                "nps",
                float(i % 11),
                texts[i % len(texts)] + f" {i % 7}",
                False,
                f"m{i}",
                now,
                now,
            )
            for i in range(1_200)
        ],
        columns=[
            "project_id",
            "response_id",
            "kind",
            "score",
            "comment",
            "partial",
            "message_id",
            "responded_at",
            "updated_at",
        ],
    )
    pool = await create_pool(database_url, min_size=2, max_size=4)
    try:
        for config in (None, InsightsConfig(user_dictionary=["智能报表"], competitors=["飞书"])):
            if config is not None:
                await save_config(conn, project.id, config)
            counts = await asyncio.gather(
                *(analyse_pending(pool, batch=50, budget_s=60, project_id=project.id)
                  for _ in range(2))
            )  # fmt: skip
            assert sum(counts) >= 1_200 and all(counts)  # both took part
            assert await pending_comments(conn, project.id) == 0
            assert await conn.fetch(RECOUNT, project.id) == []
        version = await conn.fetchval(
            "SELECT version FROM insights_config WHERE project_id = $1", project.id
        )
        assert await conn.fetchval(
            "SELECT count(*) FROM survey_responses WHERE project_id = $1 "
            "AND analysis_version = $2 AND '智能报表' = any(tokens)",
            project.id,
            version,
        ) == sum(1 for i in range(1_200) if "智能报表" in texts[i % len(texts)])
    finally:
        await pool.close()
