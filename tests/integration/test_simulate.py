"""A small simulated population through the real ingest API: every event in the lake once,
every survey response projected, every comment analysed, every account scored by the health
API, with and without the comments' words."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from bench.simulate import api
from bench.simulate.comments import COMPETITORS
from bench.simulate.drive import drive
from bench.simulate.evaluate import evaluate
from bench.simulate.model import DEFAULT_MIX, SimConfig, generate
from tests.helpers.server import Project, RunningServer


def _feedback(client: httpx.Client, account_id: str) -> dict[str, Any] | None:
    health = client.get(f"/v1/accounts/{account_id}").raise_for_status().json()["health"]
    parts = {c["name"]: c for c in health["components"]}
    part: dict[str, Any] | None = parts.get("feedback")
    return part


def test_a_small_population_lands_exactly_once_and_is_scored(
    server: RunningServer, project: Project
) -> None:
    mix = {**DEFAULT_MIX, "voiced": 0.3}
    population = generate(SimConfig(accounts=12, days=30, seed=11, mix=mix))
    assert api.put_competitors(server.url, project.secret_key, list(COMPETITORS))
    events = list(population.events())
    responses = sum(1 for e in events if e.get("event") == "Survey Responded")
    comments = sum(1 for e in events if "comment" in e.get("properties", {}))
    assert comments > 0
    report = asyncio.run(drive(server.url, project.write_key, events, concurrency=3, use_gzip=True))
    assert report.events == len(events) and report.batches == -(-len(events) // 500)

    sent = [e["messageId"] for e in events]
    lake = server.wait_for_lake(set(sent), project.id, timeout=60)
    assert Counter(lake) == Counter(sent)  # every event, exactly once, nothing else
    assert server.lake_ids(project.id, store="failed") == []
    assert api.wait_for_responses(server.url, project.secret_key, responses, timeout=60) == (
        responses
    )

    # Ratings only, then with the words: the refresh waits until every comment is analysed.
    api.put_feedback_text(server.url, project.secret_key, False)
    api.refresh_health(server.url, project.secret_key)
    before = api.fetch_scores(server.url, project.secret_key)
    with server.client(headers=project.bearer) as client:
        no_words = {a.account_id: _feedback(client, a.account_id) for a in population.accounts}
        analysed = client.get("/v1/insights/config").raise_for_status().json()
        assert analysed["pending_comments"] == 0
    api.put_feedback_text(server.url, project.secret_key, True)
    api.refresh_health(server.url, project.secret_key)
    scores = api.fetch_scores(server.url, project.secret_key)
    assert set(scores) == set(before) == {a.account_id for a in population.accounts}
    result = evaluate(population, scores)
    assert result.unscored == [] and 0.0 <= result.auc <= 1.0

    with server.client(headers=project.bearer) as client:
        with_words = {a.account_id: _feedback(client, a.account_id) for a in population.accounts}
    assert all(part is None or "words" not in part["detail"] for part in no_words.values())
    worded = [p for p in with_words.values() if p is not None and "words" in p["detail"]]
    assert worded  # accounts whose comments were analysed
    assert sum(p["detail"]["words"]["comments"] for p in worded) <= comments
    # The words can only lower the feedback component or leave it (worse of score and words),
    # never lift it above what the ratings alone give.
    for account_id, part in with_words.items():
        old = no_words[account_id]
        if part is not None and old is not None:
            assert part["normalised"] <= old["normalised"] + 1e-6, account_id
