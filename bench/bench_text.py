"""Quality and speed of comment analysis (``cxloop.text``) on the labelled sets in bench/textsets.

Per language group — ``en`` (comments_en), ``zh`` (comments_zh: zh-CN, zh-TW and mixed) and
``zh-TW`` alone — it prints:

- sentiment accuracy and macro-F1 with per-class precision/recall/F1, for the analyser and
  two baselines measured in the same run: *score only* (the score's segment: promoter →
  positive, passive → neutral, detractor → negative; it ignores the text) and *plain
  lexicon* (count positive against negative words of a short list, no negation, degree or
  contrast handling);
- topics micro-F1 with per-topic figures, churn-intent and competitor precision/recall/F1,
  language accuracy, and agreement: the share of rows whose text contradicts their score
  (a positive text with a detractor score, a negative one with a promoter score) and how
  well the analyser's ``agreement == "disagrees"`` finds them;
- speed: comments per CPU-second (``time.process_time``, one thread, so per core) of
  ``Analyzer.analyse`` over every comment of both sets, against
  ``jieba.analyse.extract_tags(text, topK=5)`` on the same comments in the same run; each
  run repeats the comments for at least ``--seconds`` and the median of ``--runs`` is kept.
  (``bench_ingest_paths.median_us`` times wall-clock per call; this figure is CPU per core.)

The shifted sets (a different writing style, all held out) are reported after the main sets:
they show how the method generalises and are never asserted.

``--errors`` (with ``--set train`` only) lists the rows where the analyser and the labels
differ: reading held-out errors while tuning would turn the held-out split into a training set.

Usage: python bench/bench_text.py [--set heldout|train|all] [--json out.json] [--no-speed]
       [--errors]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cxloop.surveys import Kind, segment_of  # noqa: E402
from cxloop.text import Analyzer, CommentAnalysis, TextConfig  # noqa: E402

TEXTSETS = HERE / "textsets"
SETS = ("comments_en", "comments_zh")
SHIFTED = ("shifted_en", "shifted_zh")
SENTIMENTS = ("positive", "negative", "neutral", "mixed")
TOPICS = (
    "performance", "reliability", "pricing", "usability", "onboarding_docs", "support",
    "integration_import_export", "reporting_dashboards", "mobile", "permissions_login",
    "feature_request", "praise",
)  # fmt: skip
LANGUAGES = ("en", "zh-CN", "zh-TW", "mixed", "other")
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "thumbs": (0, 1)}
# The evaluation's competitor list (bench/textsets/README.md): the TextConfig's competitors.
COMPETITORS = (
    "Mixpanel", "Amplitude", "Pendo", "Heap", "Tableau", "Power BI",
    "神策", "GrowingIO", "诸葛io", "帆软", "友盟",
)  # fmt: skip
SEGMENT_SENTIMENT = {"promoter": "positive", "passive": "neutral", "detractor": "negative"}


class Labelled(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One labelled comment (bench/textsets/README.md has the definitions)."""

    id: str
    text: str
    language: str
    kind: Kind
    score: float
    sentiment: str
    topics: list[str]
    churn_intent: bool
    competitors: list[str]
    split: str

    @property
    def segment(self) -> str:
        return segment_of(self.kind, self.score)

    @property
    def contradicts_score(self) -> bool:
        """The text says the opposite of the score's segment (a 9 with a complaint)."""
        return (self.sentiment, self.segment) in {
            ("positive", "detractor"),
            ("negative", "promoter"),
        }


def load(name: str) -> list[Labelled]:
    """The rows of one set (``comments_en``, ``shifted_zh``, …)."""
    decoder = msgspec.json.Decoder(Labelled)
    path = TEXTSETS / f"{name}.jsonl"
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


def eval_config() -> TextConfig:
    """The configuration every figure is measured with: built-in topics, the eval competitors."""
    return TextConfig(competitors=list(COMPETITORS))


# --- baselines ---------------------------------------------------------------------------


def score_only(row: Labelled) -> str:
    """Sentiment from the score's segment alone: what the text adds is measured against it."""
    return SEGMENT_SENTIMENT[row.segment]


# A deliberately plain word list (written for this bench, not the analyser's lexicons):
# words are counted, nothing else — no negation, degree, contrast, emoji or churn handling.
PLAIN_POSITIVE_EN = frozenset((
    "good", "great", "love", "loved", "awesome", "excellent", "amazing", "nice", "easy", "fast",
    "helpful", "useful", "clean", "intuitive", "perfect", "best", "happy", "recommend", "thanks",
    "thank", "solid", "stable", "reliable", "smooth", "beautiful", "brilliant", "fantastic",
    "wonderful", "simple", "quick", "like", "works", "fair", "better", "friendly", "clear",
    "snappy", "cool", "lovely", "glad", "worth",
))  # fmt: skip
PLAIN_NEGATIVE_EN = frozenset((
    "bad", "slow", "terrible", "awful", "hate", "broken", "bug", "bugs", "buggy", "crash",
    "crashes", "error", "errors", "fail", "fails", "failed", "expensive", "confusing", "hard",
    "difficult", "useless", "garbage", "poor", "worse", "worst", "annoying", "missing", "wrong",
    "problem", "issue", "issues", "clunky", "laggy", "painful", "horrible", "unusable",
    "disappointed", "pricey", "sluggish", "frustrating", "lost", "stuck", "unstable",
))  # fmt: skip
PLAIN_POSITIVE_ZH = (
    "好用", "很好", "方便", "快", "满意", "滿意", "喜欢", "喜歡", "赞", "讚", "棒", "不错", "不錯",
    "给力", "給力", "推荐", "推薦", "稳定", "穩定", "简单", "簡單", "清晰", "专业", "專業", "及时",
    "及時", "谢谢", "謝謝", "感谢", "感謝", "漂亮", "强大", "強大", "直观", "直覺", "好看", "划算",
)  # fmt: skip
PLAIN_NEGATIVE_ZH = (
    "慢", "卡", "差", "垃圾", "崩", "报错", "報錯", "错误", "錯誤", "失败", "失敗", "贵", "貴",
    "难用", "難用", "麻烦", "麻煩", "复杂", "複雜", "问题", "問題", "失望", "坑", "烂", "爛", "乱",
    "亂", "闪退", "閃退", "当机", "當機", "丢", "不见", "不見", "太难", "太難", "没人", "沒人",
)  # fmt: skip
ENGLISH_WORD = re.compile(r"[a-z']+")


def plain_lexicon(text: str) -> str:
    """Positive against negative word counts: more positive → positive, more negative →
    negative, as many of each (but some) → mixed, none → neutral."""
    lowered = text.lower()
    words = ENGLISH_WORD.findall(lowered)
    positive = sum(word in PLAIN_POSITIVE_EN for word in words)
    negative = sum(word in PLAIN_NEGATIVE_EN for word in words)
    positive += sum(lowered.count(word) for word in PLAIN_POSITIVE_ZH)
    negative += sum(lowered.count(word) for word in PLAIN_NEGATIVE_ZH)
    if positive > negative:
        return "positive"
    if negative > positive:
        return "negative"
    return "mixed" if positive else "neutral"


# --- metrics -----------------------------------------------------------------------------


class Figures(msgspec.Struct, frozen=True):
    precision: float
    recall: float
    f1: float
    support: int


def prf(true_positive: int, false_positive: int, false_negative: int) -> Figures:
    """Precision, recall and F1 (0 where undefined) from counts; support = TP + FN."""
    predicted = true_positive + false_positive
    actual = true_positive + false_negative
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Figures(precision, recall, f1, actual)


class Classification(msgspec.Struct, frozen=True):
    accuracy: float
    macro_f1: float  # over the classes present in the gold labels or the predictions
    classes: dict[str, Figures]


def classification(gold: Sequence[str], predicted: Sequence[str]) -> Classification:
    """Accuracy, macro-F1 and per-class figures of a single-label classification."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError("gold and predicted labels must be non-empty and of the same length")
    labels = [label for label in SENTIMENTS if label in gold or label in predicted]
    labels += sorted((set(gold) | set(predicted)) - set(labels))
    classes = {}
    for label in labels:
        pairs = list(zip(gold, predicted, strict=True))
        classes[label] = prf(
            sum(g == label and p == label for g, p in pairs),
            sum(g != label and p == label for g, p in pairs),
            sum(g == label and p != label for g, p in pairs),
        )
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    macro = statistics.fmean(figures.f1 for figures in classes.values())
    return Classification(accuracy, macro, classes)


class MultiLabel(msgspec.Struct, frozen=True):
    micro: Figures
    labels: dict[str, Figures]


def multilabel(
    gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]], labels: Sequence[str]
) -> MultiLabel:
    """Micro-averaged and per-label figures of a multi-label assignment (topics)."""
    counts = {label: [0, 0, 0] for label in labels}
    for gold_labels, predicted_labels in zip(gold, predicted, strict=True):
        wanted, got = set(gold_labels), set(predicted_labels)
        for label in wanted | got:
            tally = counts.setdefault(label, [0, 0, 0])
            tally[0 if label in wanted and label in got else 1 if label in got else 2] += 1
    total = [sum(tally[i] for tally in counts.values()) for i in range(3)]
    return MultiLabel(prf(*total), {label: prf(*tally) for label, tally in counts.items()})


def binary(gold: Sequence[bool], predicted: Sequence[bool]) -> Figures:
    pairs = list(zip(gold, predicted, strict=True))
    return prf(
        sum(g and p for g, p in pairs),
        sum(p and not g for g, p in pairs),
        sum(g and not p for g, p in pairs),
    )


class GroupReport(msgspec.Struct, frozen=True):
    rows: int
    sentiment: Classification
    score_only: Classification
    plain_lexicon: Classification
    topics: MultiLabel
    churn_intent: Figures
    competitors: Figures  # micro over (row, name) pairs
    language_accuracy: float
    disagreement_share: float  # rows whose text contradicts their score
    disagreement_detected: Figures  # the analyser's "disagrees" against those rows


def evaluate(rows: Sequence[Labelled], analyses: Sequence[CommentAnalysis]) -> GroupReport:
    """Every quality figure of one group of rows and the analyser's answers for them."""
    competitor_pairs = multilabel(
        [row.competitors for row in rows],
        [analysis.competitors for analysis in analyses],
        COMPETITORS,
    ).micro
    return GroupReport(
        rows=len(rows),
        sentiment=classification(
            [row.sentiment for row in rows], [analysis.sentiment for analysis in analyses]
        ),
        score_only=classification([row.sentiment for row in rows], [score_only(r) for r in rows]),
        plain_lexicon=classification(
            [row.sentiment for row in rows], [plain_lexicon(row.text) for row in rows]
        ),
        topics=multilabel(
            [row.topics for row in rows], [analysis.topics for analysis in analyses], TOPICS
        ),
        churn_intent=binary(
            [row.churn_intent for row in rows], [analysis.churn_intent for analysis in analyses]
        ),
        competitors=competitor_pairs,
        language_accuracy=sum(
            row.language == analysis.language for row, analysis in zip(rows, analyses, strict=True)
        )
        / len(rows),
        disagreement_share=sum(row.contradicts_score for row in rows) / len(rows),
        disagreement_detected=binary(
            [row.contradicts_score for row in rows],
            [analysis.agreement == "disagrees" for analysis in analyses],
        ),
    )


def analyse_all(analyzer: Analyzer, rows: Sequence[Labelled]) -> list[CommentAnalysis]:
    return [analyzer.analyse(row.text, row.segment) for row in rows]


def groups(rows_by_set: dict[str, list[Labelled]]) -> dict[str, list[Labelled]]:
    """en, zh (Simplified, Traditional and mixed rows of the Chinese set), zh-TW alone, and
    the shifted sets when loaded. Emoji-only rows (``other``) stay in their set's group."""
    found: dict[str, list[Labelled]] = {}
    if "comments_en" in rows_by_set:
        found["en"] = rows_by_set["comments_en"]
    if "comments_zh" in rows_by_set:
        found["zh"] = rows_by_set["comments_zh"]
        found["zh-TW"] = [row for row in rows_by_set["comments_zh"] if row.language == "zh-TW"]
    for name in SHIFTED:
        if name in rows_by_set:
            found[name.replace("_", "-")] = rows_by_set[name]
    return {name: rows for name, rows in found.items() if rows}


def select(rows: Iterable[Labelled], which: str) -> list[Labelled]:
    return [row for row in rows if which == "all" or row.split == which]


# --- speed -------------------------------------------------------------------------------


def cpu_rate(
    action: Callable[[str], object], texts: Sequence[str], runs: int, seconds: float
) -> float:
    """Median comments per CPU-second over ``runs`` runs of at least ``seconds`` each."""
    started = time.process_time()
    for text in texts:
        action(text)
    once = max(time.process_time() - started, 1e-6)
    repeats = max(1, math.ceil(seconds / once))
    rates = []
    for _ in range(runs):
        started = time.process_time()
        for _ in range(repeats):
            for text in texts:
                action(text)
        rates.append(repeats * len(texts) / (time.process_time() - started))
    return statistics.median(rates)


def speed(analyzer: Analyzer, texts: Sequence[str], runs: int, seconds: float) -> dict[str, float]:
    with warnings.catch_warnings():
        # jieba 0.42 imports pkg_resources and has invalid escapes: not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        import jieba
        import jieba.analyse

    jieba.setLogLevel(60)
    jieba.analyse.extract_tags(texts[0], topK=5)  # load the dictionary outside the timing
    analyzer.analyse(texts[0])
    analyser_rate = cpu_rate(analyzer.analyse, texts, runs, seconds)
    jieba_rate = cpu_rate(
        lambda text: jieba.analyse.extract_tags(text, topK=5), texts, runs, seconds
    )
    return {
        "comments": len(texts),
        "analyse_per_cpu_second": analyser_rate,
        "jieba_extract_tags_per_cpu_second": jieba_rate,
        "ratio": analyser_rate / jieba_rate,
    }


# --- printing ----------------------------------------------------------------------------


def print_group(name: str, report: GroupReport) -> None:
    print(f"\n== {name}: {report.rows} comments ==")
    print(f"{'sentiment':<16}{'accuracy':>9}{'macro-F1':>9}   per class P/R/F1 (support)")
    for label, figures in (
        ("analyser", report.sentiment),
        ("score only", report.score_only),
        ("plain lexicon", report.plain_lexicon),
    ):
        per_class = "  ".join(
            f"{cls} {f.precision:.2f}/{f.recall:.2f}/{f.f1:.2f} ({f.support})"
            for cls, f in figures.classes.items()
        )
        print(f"{label:<16}{figures.accuracy:>9.3f}{figures.macro_f1:>9.3f}   {per_class}")
    print(
        f"gain over score only {report.sentiment.accuracy - report.score_only.accuracy:+.3f}, "
        f"over plain lexicon {report.sentiment.accuracy - report.plain_lexicon.accuracy:+.3f}"
    )
    micro = report.topics.micro
    print(f"topics micro P/R/F1 {micro.precision:.3f}/{micro.recall:.3f}/{micro.f1:.3f}")
    for topic, f in report.topics.labels.items():
        print(f"  {topic:<27}{f.precision:>6.2f}{f.recall:>6.2f}{f.f1:>6.2f}  ({f.support})")
    for label, f in (
        ("churn intent", report.churn_intent),
        ("competitors", report.competitors),
        ("disagreement found", report.disagreement_detected),
    ):
        print(f"{label:<19} P/R/F1 {f.precision:.3f}/{f.recall:.3f}/{f.f1:.3f} ({f.support})")
    print(
        f"language accuracy {report.language_accuracy:.3f}; "
        f"text contradicts score in {report.disagreement_share:.1%} of rows"
    )


def print_errors(rows: Sequence[Labelled], analyses: Sequence[CommentAnalysis]) -> None:
    for row, analysis in zip(rows, analyses, strict=True):
        wrong = []
        if analysis.sentiment != row.sentiment:
            wrong.append(f"sentiment {analysis.sentiment} (label {row.sentiment})")
        if set(analysis.topics) != set(row.topics):
            wrong.append(f"topics {analysis.topics} (label {row.topics})")
        if analysis.churn_intent != row.churn_intent:
            wrong.append(f"churn {analysis.churn_intent} (label {row.churn_intent})")
        if wrong:
            print(f"  {row.id} [{row.kind} {row.score:g}] {row.text!r}: " + "; ".join(wrong))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", choices=("heldout", "train", "all"), default="heldout")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--errors", action="store_true", help="list the rows it gets wrong")
    args = parser.parse_args()
    if args.errors and args.set != "train":
        parser.error(
            "--errors lists training rows only (--set train): held-out errors read while tuning stop being held out"
        )

    analyzer = Analyzer(eval_config())
    names = SETS + (SHIFTED if args.set != "train" else ())
    rows_by_set = {
        name: select(load(name), args.set)
        for name in names
        if (TEXTSETS / f"{name}.jsonl").exists()
    }
    print(f"cxloop.text on bench/textsets, split {args.set}")
    reports = {}
    for name, rows in groups(rows_by_set).items():
        analyses = analyse_all(analyzer, rows)
        reports[name] = evaluate(rows, analyses)
        print_group(name, reports[name])
        if args.errors and name != "zh-TW":  # zh-TW rows are listed with zh
            print_errors(rows, analyses)

    result: dict[str, Any] = {"set": args.set, "groups": msgspec.to_builtins(reports)}
    if not args.no_speed:
        texts = [row.text for name in SETS for row in load(name)]
        result["speed"] = figures = speed(analyzer, texts, args.runs, args.seconds)
        print(
            f"\nspeed over {figures['comments']:.0f} comments (CPU, one core, median of "
            f"{args.runs}): analyse {figures['analyse_per_cpu_second']:,.0f}/s, "
            f"jieba extract_tags {figures['jieba_extract_tags_per_cpu_second']:,.0f}/s, "
            f"ratio {figures['ratio']:.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
