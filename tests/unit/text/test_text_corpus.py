"""keywords, distinctive_terms, phrases and suggest_topics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from cxloop.text import (
    Analyzer,
    TermScore,
    TextConfig,
    TopicSpec,
    distinctive_terms,
    keywords,
    phrases,
    suggest_topics,
)


def test_keywords_tf_idf_with_smoothed_idf() -> None:
    tokens = ["导出", "导出", "产品", "慢"]
    df = {"导出": 10, "产品": 99, "慢": 10}
    docs = 100
    # 导出: 2 × (ln(101/11) + 1) = 6.434; 慢: 1 × (ln(101/11) + 1) = 3.217;
    # 产品: ln(101/100) + 1 = 1.00995 — the word in nearly every comment sinks.
    assert keywords(tokens, df, docs, limit=3) == ["导出", "慢", "产品"]
    assert keywords(tokens, df, docs, limit=1) == ["导出"]


def test_keywords_unknown_terms_rank_as_rare_and_ties_break_by_token() -> None:
    assert keywords(["b", "a", "c"], {"c": 5}, 10, limit=3) == ["a", "b", "c"]
    assert keywords([], {}, 0) == []
    assert keywords(["a"], {}, 0, limit=0) == []


def reference_z(y_a: int, y_b: int, n_a: int, n_b: int, alpha: float, alpha0: float) -> float:
    delta = math.log((y_a + alpha) / (n_a + alpha0 - y_a - alpha)) - math.log(
        (y_b + alpha) / (n_b + alpha0 - y_b - alpha)
    )
    return delta / math.sqrt(1 / (y_a + alpha) + 1 / (y_b + alpha))


def test_distinctive_terms_log_odds_with_informative_prior() -> None:
    a = {"慢": 30, "贵": 5, "好用": 2}
    b = {"慢": 5, "贵": 5, "好用": 40}
    prior = {"慢": 40, "贵": 12, "好用": 45, "其他": 3}
    # α_w = prior + 0.01, α0 = Σ α = 100.04, n_a = 37, n_b = 50
    alpha0 = 100 + 4 * 0.01
    expected_slow = reference_z(30, 5, 37, 50, 40.01, alpha0)
    expected_price = reference_z(5, 5, 37, 50, 12.01, alpha0)
    result = distinctive_terms(a, b, prior)
    assert [score.term for score in result] == ["慢", "贵"]
    assert result[0] == TermScore(term="慢", z=pytest.approx(expected_slow), count_a=30, count_b=5)
    assert result[1].z == pytest.approx(expected_price)
    assert expected_slow > 3 > expected_price > 0
    reverse = distinctive_terms(b, a, prior)
    assert reverse[0].term == "好用" and reverse[0].z > 3
    assert distinctive_terms(a, b, prior, limit=1) == result[:1]


def test_distinctive_terms_prior_scale_and_terms_outside_the_prior() -> None:
    a = {"x": 10}
    b = {"y": 10}
    result = distinctive_terms(a, b, {}, prior_scale=2.0)
    alpha0 = 0.02
    assert result[0].term == "x"
    assert result[0].z == pytest.approx(reference_z(10, 0, 10, 10, 0.01, alpha0))


def test_phrases_are_tokens_and_adjacent_bigrams() -> None:
    assert phrases(["导出", "速度", "csv", "file"]) == [
        "导出",
        "速度",
        "csv",
        "file",
        "导出速度",
        "速度 csv",
        "csv file",
    ]
    assert phrases([]) == []


def test_suggest_topics_are_frequent_and_uncovered() -> None:
    counts = {
        "导出": 50,  # covered by integration_import_export
        "审批流": 12,
        "审批流 配置": 3,
        "工作流": 7,
        "的": 40,  # stopword
        "慢": 30,  # performance
        "甘特图": 2,  # below min_count
        "gantt": 5,
        "审": 20,  # a single Han character
    }
    analyzer = Analyzer()
    assert suggest_topics(counts, analyzer) == [("审批流", 12), ("工作流", 7), ("gantt", 5)]
    assert suggest_topics(counts, analyzer, limit=1) == [("审批流", 12)]
    # once the project adds the topic, the phrase is covered
    covered = Analyzer(TextConfig(topics=[TopicSpec(id="approval", terms=["审批流"])]))
    assert [p for p, _ in suggest_topics(counts, covered)] == ["工作流", "gantt"]


def test_suggest_topics_leaves_out_a_word_inside_an_as_frequent_phrase() -> None:
    counts = {"gantt chart": 6, "gantt": 6, "chart": 9}
    analyzer = Analyzer(TextConfig(topics=[TopicSpec(id="reporting_dashboards", enabled=False)]))
    assert suggest_topics(counts, analyzer) == [("chart", 9), ("gantt chart", 6)]
