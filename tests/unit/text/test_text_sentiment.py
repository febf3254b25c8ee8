"""Sentiment, agreement with the score, and churn intent of single comments."""

from __future__ import annotations

import pytest

from cxloop.text import Analyzer

ANALYZER = Analyzer()


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        # plain polarity, three languages
        ("非常满意，客服很专业", "positive"),
        ("報表功能很好用，推薦給同事", "positive"),
        ("Really love the new dashboard", "positive"),
        ("经常崩溃，太失望了", "negative"),
        ("軟體一直當機，很失望", "negative"),
        ("The app is slow and buggy", "negative"),
        # negation
        ("不是很满意", "negative"),
        ("不太好用", "negative"),
        ("一点也不慢", "positive"),
        ("没有想象中难用", "positive"),
        ("not bad", "positive"),
        ("not great", "negative"),
        ("it never works", "negative"),
        ("I don't like the new layout", "negative"),
        ("不喜欢新的界面", "negative"),
        # degree adverbs still keep the polarity
        ("有点慢", "negative"),
        ("出差的时候特别方便", "positive"),  # 特别 is a degree adverb, its 别 no negation
        ("速度还不错，没有之前那么卡了", "positive"),
        ("稍微有点贵", "negative"),
        ("extremely helpful support", "positive"),
        ("a bit slow", "negative"),
        # mixed Chinese-English
        ("dashboard 加载太慢", "negative"),
        ("export 功能很好用", "positive"),
        # emoji and emoticons alone
        ("👍", "positive"),
        ("😡😡😡", "negative"),
        ("🙂", "positive"),
        ("😭", "negative"),
        (":(", "negative"),
        (":)", "positive"),
        # very short answers
        ("好", "positive"),
        ("赞", "positive"),
        ("meh", "negative"),
        ("no", "neutral"),
        ("1", "neutral"),
        ("无", "neutral"),
        # questions and requests are neutral unless they complain
        ("How do I export to CSV?", "neutral"),
        ("希望能支持导出PDF", "neutral"),
        ("Would love a dark mode", "neutral"),
        ("能不能加一个批量导入的功能？", "neutral"),
        ("为什么这么慢？", "negative"),
        ("Why is it always so slow?", "negative"),
    ],
)
def test_sentiment_labels(comment: str, expected: str) -> None:
    assert ANALYZER.analyse(comment).sentiment == expected


@pytest.mark.parametrize(
    ("comment", "praise"),
    [
        ("界面很漂亮，但是经常崩溃，数据还丢了", "界面很漂亮"),
        (
            "Love the reports, but the app crashes every day and support never answers",
            "Love the reports",
        ),
    ],
)
def test_a_complaint_after_but_outweighs_the_praise_before(comment: str, praise: str) -> None:
    result = ANALYZER.analyse(comment)
    assert result.sentiment in ("negative", "mixed")
    assert result.sentiment_score < ANALYZER.analyse(praise).sentiment_score - 0.5


def test_mixed_when_both_sides_are_substantive() -> None:
    result = ANALYZER.analyse("Support is excellent. The pricing is terrible.")
    assert result.sentiment == "mixed"


def test_contrast_changes_the_outcome_compared_with_no_contrast() -> None:
    before_negative = ANALYZER.analyse("很慢，但是客服非常好").sentiment_score
    before_positive = ANALYZER.analyse("客服非常好，但是很慢").sentiment_score
    assert before_negative > before_positive


def test_intensifying_punctuation_and_degree_raise_the_magnitude() -> None:
    plain = ANALYZER.analyse("slow").sentiment_score
    stronger = ANALYZER.analyse("extremely slow!!!").sentiment_score
    assert stronger < plain < 0
    assert ANALYZER.analyse("非常满意").sentiment_score > ANALYZER.analyse("满意").sentiment_score


def test_scores_are_bounded() -> None:
    text = "太棒了！" * 500 + "垃圾" * 10
    score = ANALYZER.analyse(text).sentiment_score
    assert -1.0 <= score <= 1.0


@pytest.mark.parametrize(
    ("comment", "segment", "agreement"),
    [
        ("导出太慢了", "promoter", "disagrees"),
        ("Great tool, love it", "detractor", "disagrees"),
        ("Great tool, love it", "promoter", "agrees"),
        ("经常崩溃", "detractor", "agrees"),
        ("经常崩溃", "passive", "neutral"),
        ("How do I export?", "promoter", "neutral"),
        ("经常崩溃", None, None),
        ("经常崩溃", "something-else", None),
    ],
)
def test_agreement_with_the_segment(
    comment: str, segment: str | None, agreement: str | None
) -> None:
    assert ANALYZER.analyse(comment, segment).agreement == agreement


@pytest.mark.parametrize(
    "comment",
    [
        "导出太慢了，我们正在考虑换别的工具",
        "明年不续费了",
        "合同到期就不用了",
        "已经在迁移到飞书了",
        "我们准备取消订阅",
        "申请退款",
        "打算改用别家的产品",
        "我們考慮換別的軟體",
        "明年不續約了",
        "We are switching to Zendesk next month",
        "We won't renew our contract",
        "looking at alternatives because of the price",
        "If this isn't fixed we will cancel",
        "Please cancel my subscription",
        "we're evaluating other vendors",
        "thinking about moving to another tool",
        "Time to find a new tool",
        "I'm done with this product",
        "We'll have to look for something else",
        "fix it or we will cancel",
        "We decided not to renew",
        "明年终止合作",
        "下个月就停止使用了",
    ],
)
def test_churn_intent(comment: str) -> None:
    assert ANALYZER.analyse(comment).churn_intent is True


@pytest.mark.parametrize(
    "comment",
    [
        "我们不会换的，很好用",
        "没打算换，只是提个建议",
        "We would never switch, this is great",
        "no plans to cancel, just a bug report",
        "How do I cancel a scheduled report?",
        "取消按钮太小了",
        "换行显示有问题",
        "The export is slow",
        "需要换一个颜色主题",
        "We switched to you from Mixpanel last year",
        "I cancelled the scheduled email by mistake, how do I restore it?",
        "不会终止合作",
        "从神策换过来的，很满意",
        "停用了一部分功能",
    ],
)
def test_no_churn_intent(comment: str) -> None:
    assert ANALYZER.analyse(comment).churn_intent is False


@pytest.mark.parametrize("model", [False, True])
@pytest.mark.parametrize(
    "comment",
    [
        "Oh great, the export broke again. Love that for me.",
        "Wow, only 45 seconds to load a chart today, new record",
        "Another Monday, another outage. Fantastic.",
        "Great, logged out again in the middle of a demo",
    ],
)
def test_sarcasm_is_read_as_the_complaint_it_is(model: bool, comment: str) -> None:
    assert Analyzer(sentiment_model=model).analyse(comment).sentiment == "negative"


@pytest.mark.parametrize("model", [False, True])
def test_praise_openings_without_a_complaint_or_with_a_contrast_are_not_sarcasm(
    model: bool,
) -> None:
    analyzer = Analyzer(sentiment_model=model)
    assert analyzer.analyse("Great, thanks for the quick fix").sentiment == "positive"
    assert analyzer.analyse("Great product, but the exports are painfully slow").sentiment in (
        "mixed",
        "negative",
    )


@pytest.mark.parametrize("model", [False, True])
def test_a_clause_that_takes_the_praise_back_makes_it_mixed(model: bool) -> None:
    analyzer = Analyzer(sentiment_model=model)
    assert analyzer.analyse("Support is top notch, pricing is not").sentiment == "mixed"
    assert analyzer.analyse("This used to be good").sentiment == "negative"


@pytest.mark.parametrize(
    ("comment", "churn"),
    [
        ("One more outage and we're gone", True),
        ("Thinking about switching, the value just isn't there anymore", True),
        ("We won't need the licence after June", True),
        ("Best decision we made this year was moving to you", False),
        ("We were close to leaving last year, glad we stayed", False),
    ],
)
def test_more_churn_phrasings(comment: str, churn: bool) -> None:
    assert ANALYZER.analyse(comment).churn_intent is churn


@pytest.mark.parametrize("model", [False, True])
@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("Not a single outage this quarter", "positive"),
        ("For the price, nothing else comes close", "positive"),
        ("Oh wonderful, the CSV export mangled every date again", "negative"),
        ("Not what we were promised", "negative"),
    ],
)
def test_strong_negation_and_everyday_verdicts(model: bool, comment: str, expected: str) -> None:
    assert Analyzer(sentiment_model=model).analyse(comment).sentiment == expected


@pytest.mark.parametrize("model", [False, True])
@pytest.mark.parametrize(
    "comment",
    [
        "呵呵，又更新出新的错误，真厉害",
        "谢谢你们的更新，把我保存的筛选全清空了",
        "接口文档缺了一半参数说明",
    ],
)
def test_chinese_sarcasm_and_missing_parts_are_complaints(model: bool, comment: str) -> None:
    assert Analyzer(sentiment_model=model).analyse(comment).sentiment == "negative"


def test_the_model_reads_an_external_reason_for_leaving() -> None:
    from cxloop.text.model import DENSE, dense_features
    from cxloop.text.sentiment import analyse_sentiment

    external = dense_features(analyse_sentiment("预算不够"), True, "预算不够，不续约了")
    product = dense_features(analyse_sentiment("太卡了"), True, "太卡了，不续约了")
    assert len(external) == len(product) == DENSE
    assert (external[-2], product[-2], external[-1]) == (1.0, 0.0, 1.0)
