"""A small simulated population through the real ingest API: every event in the lake once,
every survey response projected, every account scored by the health API."""

from __future__ import annotations

import asyncio
from collections import Counter

from bench.simulate import api
from bench.simulate.drive import drive
from bench.simulate.evaluate import evaluate
from bench.simulate.model import SimConfig, generate
from tests.helpers.server import Project, RunningServer


def test_a_small_population_lands_exactly_once_and_is_scored(
    server: RunningServer, project: Project
) -> None:
    population = generate(SimConfig(accounts=12, days=30, seed=11))
    events = list(population.events())
    responses = sum(1 for e in events if e.get("event") == "Survey Responded")
    report = asyncio.run(drive(server.url, project.write_key, events, concurrency=3, use_gzip=True))
    assert report.events == len(events) and report.batches == -(-len(events) // 500)

    sent = [e["messageId"] for e in events]
    lake = server.wait_for_lake(set(sent), project.id, timeout=60)
    assert Counter(lake) == Counter(sent)  # every event, exactly once, nothing else
    assert server.lake_ids(project.id, store="failed") == []
    assert api.wait_for_responses(server.url, project.secret_key, responses, timeout=60) == (
        responses
    )

    api.refresh_health(server.url, project.secret_key)
    scores = api.fetch_scores(server.url, project.secret_key)
    assert set(scores) == {a.account_id for a in population.accounts}
    result = evaluate(population, scores)
    assert result.unscored == [] and 0.0 <= result.auc <= 1.0
