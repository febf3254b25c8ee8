"""Language, tokens, the user dictionary, topics and their overrides, competitors, hostile input."""

from __future__ import annotations

import time

import msgspec
import pytest

from cxloop.text import (
    BUILTIN_TOPICS,
    MAX_CHARS,
    Analyzer,
    CommentAnalysis,
    TextConfig,
    TopicSpec,
)

ANALYZER = Analyzer()


@pytest.mark.parametrize(
    ("comment", "language"),
    [
        ("导出太慢了，我们正在考虑换别的工具", "zh-CN"),
        ("報表匯出功能很好用，但是登入常常失敗", "zh-TW"),
        ("軟體很好用", "zh-TW"),
        ("The export is really slow", "en"),
        ("ok", "en"),
        ("dashboard 加载太慢", "mixed"),
        ("👍👍", "other"),
        ("12345", "other"),
        ("!!!", "other"),
        ("", "other"),
        ("とても使いやすい", "other"),
    ],
)
def test_language(comment: str, language: str) -> None:
    assert ANALYZER.analyse(comment).language == language


def test_language_rule_counts_latin_words_against_content_tokens() -> None:
    # 4 content tokens (希望, 支持, 导出, excel): one Latin word is a quarter → mixed by the rule
    # "Latin words ≥ a quarter of the content tokens"; with five Chinese tokens it is Chinese.
    assert ANALYZER.analyse("希望支持导出excel").language == "mixed"
    assert ANALYZER.analyse("希望尽快支持导出报表到excel").language == "zh-CN"


def test_simplified_text_with_a_character_common_to_both_scripts_is_simplified() -> None:
    assert ANALYZER.analyse("皇后很好").language == "zh-CN"


def test_tokens_are_simplified_lower_case_stemmed_without_stopwords() -> None:
    tokens = ANALYZER.analyse("報表匯出的速度很慢").tokens
    assert "报表" in tokens and "导出" in tokens and "速度" in tokens
    assert "的" not in tokens
    english = ANALYZER.analyse("The Exports are failing and exporting is slow").tokens
    assert english.count("export") == 2
    assert "fail" in english and "the" not in english


def test_traditional_original_is_not_touched() -> None:
    original = "報表匯出"
    ANALYZER.analyse(original)
    assert original == "報表匯出"


def test_user_dictionary_keeps_a_term_whole_and_does_not_leak() -> None:
    plain = Analyzer().analyse("我们用多维表格做报表").tokens
    assert "多维表格" not in plain
    with_term = Analyzer(TextConfig(user_dictionary=["多维表格"])).analyse("我们用多维表格做报表")
    assert "多维表格" in with_term.tokens
    # another analyser, made after, is not influenced
    assert "多维表格" not in Analyzer().analyse("我们用多维表格做报表").tokens


def test_user_dictionary_terms_match_traditional_and_case_insensitively() -> None:
    analyzer = Analyzer(TextConfig(user_dictionary=["Smart Report", "智能報表"]))
    assert "smart report" in analyzer.analyse("The SMART REPORT page is slow").tokens
    assert "智能报表" in analyzer.analyse("智能报表打不开").tokens


def test_latin_user_terms_respect_word_boundaries() -> None:
    analyzer = Analyzer(TextConfig(user_dictionary=["BI"]))
    assert "bi" in analyzer.analyse("our BI team").tokens
    assert "bi" not in analyzer.analyse("mobile app").tokens


@pytest.mark.parametrize(
    ("comment", "topic"),
    [
        ("导出太慢了", "performance"),
        ("加載很慢", "performance"),
        ("The dashboard takes forever to load", "performance"),
        ("经常闪退", "reliability"),
        ("crashes every day", "reliability"),
        ("价格太贵了", "pricing"),
        ("too expensive for us", "pricing"),
        ("界面太复杂，找不到按钮", "usability"),
        ("confusing navigation", "usability"),
        ("文档写得不清楚", "onboarding_docs"),
        ("the documentation is outdated", "onboarding_docs"),
        ("客服回复很及时", "support"),
        ("support team answered quickly", "support"),
        ("匯出Excel常常失敗", "integration_import_export"),
        ("exporting to csv is broken", "integration_import_export"),
        ("報表不夠靈活", "reporting_dashboards"),
        ("need better dashboards", "reporting_dashboards"),
        ("手机端体验差", "mobile"),
        ("the iOS app is unusable", "mobile"),
        ("登入常常失敗", "permissions_login"),
        ("cannot log in with SSO", "permissions_login"),
        ("希望增加暗色模式", "feature_request"),
        ("please add a dark mode", "feature_request"),
        ("非常好用，点赞", "praise"),
        ("great job, love it", "praise"),
    ],
)
def test_builtin_topics(comment: str, topic: str) -> None:
    assert topic in ANALYZER.analyse(comment).topics


def test_topics_come_in_builtin_order() -> None:
    topics = ANALYZER.analyse("手机端登录太慢").topics
    order = [t.id for t in BUILTIN_TOPICS]
    assert topics == sorted(topics, key=order.index)
    assert {"performance", "mobile", "permissions_login"} <= set(topics)


def test_builtin_topics_have_names_in_three_languages() -> None:
    assert len(BUILTIN_TOPICS) == 12
    for topic in BUILTIN_TOPICS:
        assert set(topic.names) == {"en", "zh-CN", "zh-TW"}
        assert len(topic.terms) >= 30


def test_overrides_rename_disable_add_and_replace_terms() -> None:
    config = TextConfig(
        topics=[
            TopicSpec(id="performance", names={"en": "Speed"}),
            TopicSpec(id="pricing", enabled=False),
            TopicSpec(id="ai_assistant", names={"en": "AI assistant"}, terms=["copilot", "AI助手"]),
            TopicSpec(id="mobile", terms=["小程序"]),
            TopicSpec(id="support", add_terms=["值班"]),
        ]
    )
    analyzer = Analyzer(config)
    topics = {t.id: t for t in analyzer.topics()}
    assert topics["performance"].names["en"] == "Speed"
    assert topics["performance"].names["zh-CN"] == "性能与速度"
    assert topics["pricing"].enabled is False
    assert [t.id for t in analyzer.topics()][-1] == "ai_assistant"
    assert "pricing" not in analyzer.analyse("价格太贵了").topics
    assert "ai_assistant" in analyzer.analyse("The Copilot suggestions are wrong").topics
    assert "ai_assistant" in analyzer.analyse("AI助手很好用").topics
    assert "mobile" in analyzer.analyse("小程序打不开").topics
    assert "mobile" not in analyzer.analyse("手机端体验差").topics  # terms replaced
    assert "support" in analyzer.analyse("值班的同事很负责").topics
    assert "support" in analyzer.analyse("客服回复很及时").topics  # terms added, not replaced
    # the default analyser is not affected
    assert "pricing" in ANALYZER.analyse("价格太贵了").topics


def test_competitors_case_insensitive_word_bounded_han_as_substring() -> None:
    analyzer = Analyzer(TextConfig(competitors=["Tableau", "飞书", "Lark", "金數據"]))
    result = analyzer.analyse("We moved reports to TABLEAU; 飞书也在用，金数据也不错")
    assert result.competitors == ["Tableau", "飞书", "金數據"]
    assert analyzer.analyse("a larkspur flower").competitors == []
    assert analyzer.analyse("we tried lark.").competitors == ["Lark"]
    assert ANALYZER.analyse("We use Tableau").competitors == []


def test_determinism() -> None:
    comment = "報表匯出功能很好用，但是登入常常失敗 😡 we may switch to Tableau"
    analyzer = Analyzer(TextConfig(competitors=["Tableau"]))
    first = msgspec.json.encode(analyzer.analyse(comment, "promoter"))
    for _ in range(3):
        assert msgspec.json.encode(analyzer.analyse(comment, "promoter")) == first
    assert (
        msgspec.json.encode(
            Analyzer(TextConfig(competitors=["Tableau"])).analyse(comment, "promoter")
        )
        == first
    )


HOSTILE = [
    "\x00" * 1000,
    "abc\x00def 很慢\x00",
    "\ud800\udfff lone surrogates \udc00 慢",
    "\x01\x02\x1b[31m red \x7f",
    "😡" * 12_800,  # 50 KB of emoji
    "慢" * 100_000,
    "a" * 100_000,
    "\u202e\u200f很好用\u200d\u200b\ufeff",
    "👨\u200d👩\u200d👧\u200d👦" * 2000,
    " " * 50_000,
    "\n" * 50_000,
    "不" * 20_000,
    ":(" * 20_000,
    "http://" + "x" * 50_000,
    "的" * 50_000,
    "中文English混合" * 5_000,
]


@pytest.mark.parametrize("comment", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises_and_stays_bounded(comment: str) -> None:
    start = time.perf_counter()
    result = ANALYZER.analyse(comment, "promoter")
    elapsed = time.perf_counter() - start
    assert isinstance(result, CommentAnalysis)
    assert -1.0 <= result.sentiment_score <= 1.0
    assert len(result.tokens) <= MAX_CHARS
    assert elapsed < 1.0  # generous: speed is measured in bench/


def test_surrogates_and_nul_are_not_in_tokens() -> None:
    tokens = ANALYZER.analyse("abc\x00def \ud800 很慢").tokens
    assert all("\x00" not in token and "\ud800" not in token for token in tokens)
    msgspec.json.encode(tokens)  # encodable as UTF-8 (PostgreSQL text[] takes it)


def test_only_the_first_characters_are_read() -> None:
    tail = "价格太贵了"
    assert "pricing" in ANALYZER.analyse(tail).topics
    assert "pricing" not in ANALYZER.analyse("好" * MAX_CHARS + tail).topics


def test_non_string_input_is_read_as_text() -> None:
    result = ANALYZER.analyse(12345)  # type: ignore[arg-type]
    assert result.language == "other"


def test_one_analyzer_serves_many_threads_with_the_same_answers() -> None:
    from concurrent.futures import ThreadPoolExecutor

    analyzer = Analyzer(TextConfig(user_dictionary=["多维表格"], competitors=["Tableau"]))
    comments = ["導出太慢了，考慮換 Tableau", "多维表格很好用", "The export keeps failing"] * 20
    expected = [msgspec.json.encode(analyzer.analyse(c)) for c in comments]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda c: msgspec.json.encode(analyzer.analyse(c)), comments))
    assert got == expected


@pytest.mark.parametrize("model", [False, True])
def test_praise_of_the_whole_product_beside_a_complaint(model: bool) -> None:
    analyzer = Analyzer(sentiment_model=model)
    mixed = analyzer.analyse("Nice features, horrible performance")
    assert mixed.sentiment == "mixed"
    assert mixed.topics == ["performance", "praise"]
    # a positive clause about an aspect is that aspect's, not praise of the whole
    aspects = analyzer.analyse("The charts are beautiful, but exporting is painful")
    assert aspects.sentiment == "mixed" and "praise" not in aspects.topics
    # a positive comment naming no aspect praises the product; one naming an aspect does not
    assert analyzer.analyse("Very happy customer here").topics == ["praise"]
    thanks = analyzer.analyse("Support sorted it out in an hour. Legend.")
    assert thanks.sentiment == "positive" and thanks.topics == ["support"]


def test_praise_is_not_added_when_the_project_disabled_it() -> None:
    config = TextConfig(topics=[TopicSpec(id="praise", enabled=False)])
    analyzer = Analyzer(config)
    assert "praise" not in analyzer.analyse("Nice features, horrible performance").topics
    assert analyzer.analyse("Very happy customer here").topics == []


@pytest.mark.parametrize(
    ("comment", "present", "absent"),
    [
        ("Still waiting for the bug I reported to be fixed", "reliability", "reporting_dashboards"),
        ("Our contract is up in June and we won't renew", None, "pricing"),
        ("It's been a great experience overall", "praise", "usability"),
        ("Half the events from our app never show up", "reliability", None),
        ("Thanks for shipping SCIM, our IT team is thrilled", "feature_request", "praise"),
        ("We need a read-only role", "feature_request", None),
    ],
)
def test_topic_wordings(comment: str, present: str | None, absent: str | None) -> None:
    topics = ANALYZER.analyse(comment).topics
    assert present is None or present in topics
    assert absent is None or absent not in topics
