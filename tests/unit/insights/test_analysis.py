"""The comment-analysis step without a database: document-frequency maintenance, batching
across projects, the analyser cache, and the topic maths of /v1/insights/topics."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.insights import analysis
from cxloop.insights.analysis import DOCS_TERM, AnalyzerCache, BatchResult, df_delta
from cxloop.insights.config import InsightsConfig, StoredConfig
from cxloop.insights.text_controller import nps_impact, quadrants
from cxloop.insights.text_controller import topic_metric as metric
from cxloop.insights.text_store import TopicCounts
from cxloop.ops import Registry

# -- document frequencies ---------------------------------------------------------------


def recount(stored: dict[str, list[str] | None]) -> Counter[str]:
    """The reference: document frequencies counted from scratch over the stored tokens."""
    df: Counter[str] = Counter()
    for tokens in stored.values():
        if tokens is not None:
            df[DOCS_TERM] += 1
            df.update(set(tokens))
    return +df


def test_new_comments_count_each_term_once_per_comment() -> None:
    delta = df_delta([None, None], [["导出", "慢", "慢"], ["导出", "fast"]])
    assert delta == {DOCS_TERM: 2, "导出": 2, "慢": 1, "fast": 1}


def test_a_reanalysed_comment_moves_its_terms_and_keeps_the_document_count() -> None:
    delta = df_delta([["导出", "慢"]], [["导出", "卡顿"]])
    # 导出 nets to zero and is left out; the comment was counted before and still is.
    assert delta == {"慢": -1, "卡顿": 1}


def test_nothing_changes_when_the_analysis_is_the_same() -> None:
    assert df_delta([["a", "b"], ["b"]], [["b", "a"], ["b", "b"]]) == {}


tokens_strategy = st.lists(st.sampled_from(["导出", "慢", "price", "贵", "dashboard", "好"]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 7), tokens_strategy),  # (comment, its new tokens) per step
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 6),
)
def test_applied_deltas_always_equal_a_recount(
    steps: list[tuple[int, list[str]]], batch_size: int
) -> None:
    stored: dict[str, list[str] | None] = {f"c{i}": None for i in range(8)}
    df: Counter[str] = Counter()
    for start in range(0, len(steps), batch_size):
        # One batch claims each comment once (FOR UPDATE): the last analysis of it wins.
        batch = {f"c{i}": tokens for i, tokens in steps[start : start + batch_size]}
        delta = df_delta([stored[c] for c in batch], list(batch.values()))
        assert all(change != 0 for change in delta.values())
        df.update(delta)
        stored.update(batch)
        assert all(count >= 0 for count in df.values())  # the CHECK (docs >= 0) holds
        assert +df == recount(stored)


# -- batching across projects -----------------------------------------------------------


class FakeConnection:
    """A connection analyse_pending hands through (not a pool)."""


def fake_batches(
    monkeypatch: pytest.MonkeyPatch, pending: dict[str, int], fail: set[str] | None = None
) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []

    async def projects(conn: Any, project_id: str | None = None) -> list[str]:
        return [p for p in sorted(pending) if pending[p] and project_id in (None, p)]

    async def batch(conn: Any, project_id: str, *, batch: int, cache: Any) -> BatchResult:
        assert isinstance(conn, FakeConnection)
        if fail and project_id in fail:
            raise RuntimeError("the analyser choked")
        taken = min(batch, pending[project_id])
        pending[project_id] -= taken
        calls.append((project_id, taken))
        return BatchResult(taken, 0)

    monkeypatch.setattr(analysis, "projects_with_pending_comments", projects)
    monkeypatch.setattr(analysis, "analyse_batch", batch)
    return calls


async def test_projects_take_turns_a_batch_each_until_none_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending = {"big": 25, "small": 3, "none": 0}
    calls = fake_batches(monkeypatch, pending)
    done = await analysis.analyse_pending(FakeConnection(), batch=10, budget_s=60)  # type: ignore[arg-type]
    assert done == 28 and pending == {"big": 0, "small": 0, "none": 0}
    # "small" is served in the first round although "big" has a backlog.
    assert calls == [("big", 10), ("small", 3), ("big", 10), ("big", 5)]


async def test_the_budget_ends_a_round_after_the_batch_in_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending = {"a": 100, "b": 100}
    calls = fake_batches(monkeypatch, pending)
    done = await analysis.analyse_pending(FakeConnection(), batch=10, budget_s=0)  # type: ignore[arg-type]
    assert (done, calls) == (10, [("a", 10)])


async def test_one_project_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    pending = {"a": 5, "b": 5}
    calls = fake_batches(monkeypatch, pending)
    await analysis.analyse_pending(FakeConnection(), batch=10, project_id="b")  # type: ignore[arg-type]
    assert calls == [("b", 5)] and pending["a"] == 5


async def test_a_failing_project_does_not_hold_back_the_others_in_the_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending = {"a": 5, "broken": 5, "c": 5}
    calls = fake_batches(monkeypatch, pending, fail={"broken"})
    done = await analysis.analyse_pending(FakeConnection(), isolate_failures=True)  # type: ignore[arg-type]
    assert done == 10 and calls == [("a", 5), ("c", 5)] and pending["broken"] == 5
    with pytest.raises(RuntimeError, match="choked"):  # elsewhere the caller sees it
        await analysis.analyse_pending(FakeConnection())  # type: ignore[arg-type]


async def test_analysers_are_compiled_once_per_project_and_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[Any] = []

    class CountingAnalyzer:
        def __init__(self, config: Any) -> None:
            compiled.append(config)

    monkeypatch.setattr(analysis, "Analyzer", CountingAnalyzer)
    cache = AnalyzerCache(size=2)
    v1 = StoredConfig(InsightsConfig(), 1, None)
    v2 = StoredConfig(InsightsConfig(competitors=["Notion"]), 2, None)
    first = await cache.get("p1", v1)
    assert await cache.get("p1", v1) is first
    assert await cache.get("p1", v2) is not first
    assert compiled[-1].competitors == ["Notion"]
    await cache.get("p2", v1)  # the cache holds two: p1 v1 goes
    await cache.get("p1", v1)
    assert len(compiled) == 4


# -- topic maths: NPS impact and the priority matrix ------------------------------------


def nps(scores: list[int]) -> float:
    return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def test_nps_impact_is_overall_minus_nps_without_the_topics_detractors() -> None:
    rng = random.Random(15)
    responses = [(rng.randint(0, 10), rng.random() < 0.3) for _ in range(500)]  # (score, topic)
    scores = [s for s, _ in responses]
    without = [s for s, topical in responses if not (topical and s <= 6)]
    topic_detractors = sum(1 for s, topical in responses if topical and s <= 6)
    impact = nps_impact(
        sum(s >= 9 for s in scores), sum(s <= 6 for s in scores), len(scores), topic_detractors
    )
    assert impact == pytest.approx(nps(scores) - nps(without))
    assert impact is not None and impact < 0  # a topic's detractors cost points
    assert nps_impact(0, 0, 0, 0) is None
    assert nps_impact(0, 3, 3, 3) is None  # nothing would be left


def test_quadrants_cut_at_the_medians() -> None:
    points: list[tuple[float | None, float | None]] = [
        (10.0, -40.0),  # costs the most, performs worst
        (8.0, 30.0),
        (1.0, -20.0),
        (0.5, 60.0),
        (None, None),  # no ratings: not placed
    ]
    placed, importance_median, performance_median = quadrants(points)
    assert (importance_median, performance_median) == (4.5, 5.0)
    assert placed == ["fix_first", "keep_up", "low_priority", "overkill", None]
    assert quadrants([]) == ([], None, None)


# -- the kind's metric among a topic's responses ------------------------------------------


def counts(scores: list[int], kind: str) -> TopicCounts:
    from cxloop.surveys import segment_of

    segments = Counter(segment_of(kind, s) for s in scores)  # type: ignore[arg-type]
    mean = sum(scores) / len(scores)
    variance = sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)
    return TopicCounts(
        comments=len(scores), positive=0, negative=0, neutral=0, mixed=0,
        responses=len(scores), promoters=segments["promoter"], passives=segments["passive"],
        detractors=segments["detractor"], mean=mean, variance=variance,
    )  # fmt: skip


def test_nps_is_in_points_with_an_adjusted_wald_interval() -> None:
    scores = [10, 9, 9, 8, 7, 6, 3, 10, 9, 2]
    name, value, low, high = metric("nps", counts(scores, "nps"))
    assert name == "nps" and value == pytest.approx(nps(scores))  # 5 promoters, 3 detractors
    # Adjusted Wald by hand: z²/4 pseudo-answers to promoters and detractors, z²/2 to n.
    z = 1.96
    n = len(scores) + z * z / 2
    p, d = (5 + z * z / 4) / n, (3 + z * z / 4) / n
    half = z * math.sqrt((p + d - (p - d) ** 2) / n)
    assert (low, high) == pytest.approx((100 * (p - d - half), 100 * (p - d + half)))


def test_csat_is_the_share_satisfied_with_a_wilson_interval() -> None:
    scores = [5, 4, 4, 3, 1, 5, 2, 4]  # 5 satisfied (4 or 5) of 8
    name, value, low, high = metric("csat", counts(scores, "csat"))
    z, n, k = 1.96, 8, 5
    centre = (k / n + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(k / n * (1 - k / n) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert name == "satisfied" and value == pytest.approx(62.5)
    assert (low, high) == pytest.approx((100 * (centre - half), 100 * (centre + half)))


def test_ces_is_the_mean_with_a_student_t_interval() -> None:
    scores = [2, 3, 5, 1, 4]
    name, value, low, high = metric("ces", counts(scores, "ces"))
    sd = statistics.stdev(scores)
    t_975_df4 = 2.7764451051977987  # Student t, 97.5 % quantile, 4 degrees of freedom
    assert name == "mean" and value == pytest.approx(3.0)
    assert (low, high) == pytest.approx(
        (3 - t_975_df4 * sd / math.sqrt(5), 3 + t_975_df4 * sd / math.sqrt(5))
    )


# -- the pipeline's round ------------------------------------------------------------------


class FakeDatabase:
    def __init__(self, pool: Any) -> None:
        self.pool = pool


async def test_the_pipeline_round_waits_for_postgresql_and_survives_failures(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert await analysis.analyse_in_pipeline(FakeDatabase(None)) == 0  # type: ignore[arg-type]
    budgets: list[float] = []

    async def fails(pool: Any, **kwargs: Any) -> int:
        budgets.append(kwargs["budget_s"])
        assert kwargs["isolate_failures"] is True
        raise OSError("connection reset")

    async def works(pool: Any, **kwargs: Any) -> int:
        return 7

    registry = Registry()
    monkeypatch.setattr(analysis, "analyse_pending", fails)
    with caplog.at_level("WARNING", logger="cxloop.insights"):
        database = FakeDatabase(object())
        done = await analysis.analyse_in_pipeline(database, budget_s=0.25, registry=registry)  # type: ignore[arg-type]
    assert done == 0 and budgets == [0.25] and "will retry" in caplog.text
    monkeypatch.setattr(analysis, "analyse_pending", works)
    assert await analysis.analyse_in_pipeline(database, registry=registry) == 7  # type: ignore[arg-type]
    metrics = registry.snapshot().metrics
    assert metrics["cxloop_comments_analysed_total"].samples == [([], 7.0)]
    assert metrics["cxloop_comment_analysis_errors_total"].samples == [([], 1.0)]
