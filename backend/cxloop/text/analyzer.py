"""The analysis of one comment with one project's configuration (docs/insights-text.md)."""

from __future__ import annotations

import logging
import re

import msgspec

from cxloop.text.chinese import script_of, to_simplified
from cxloop.text.churn import has_churn_intent
from cxloop.text.config import TextConfig, TopicSpec
from cxloop.text.model import LABELS, dense_features, ngram_features, shipped_model
from cxloop.text.patterns import trie_pattern
from cxloop.text.segment import (
    HAN_CHAR,
    UserDictionary,
    clean,
    content_tokens,
    is_latin_word,
    words,
)
from cxloop.text.sentiment import THANKS_ONLY, Sentiment, analyse_sentiment
from cxloop.text.topics import PRAISE, RELIABILITY, TopicMatcher, effective_topics

_log = logging.getLogger(__name__)
_KANA_OR_HANGUL = re.compile("[\u3040-\u30ff\uac00-\ud7af]")
_WORDISH = re.compile(r"[0-9a-z]")
_REPORTED = re.compile(r"\breported\b")
SEGMENTS = ("promoter", "passive", "detractor")
PRAISE_CLAUSE_MIN = 0.4  # positive evidence a clause needs to be praise of the whole product


class CommentAnalysis(msgspec.Struct, frozen=True):
    """What the text of one comment says."""

    language: str  # "zh-CN" | "zh-TW" | "en" | "mixed" | "other"
    tokens: list[str]  # normalised content tokens (Simplified, lower-case, stemmed, no stopwords)
    topics: list[str]  # topic ids, in the order of the effective topics
    sentiment: str  # "positive" | "negative" | "neutral" | "mixed"
    sentiment_score: float  # -1 … 1
    agreement: str | None  # against the score's segment: "agrees" | "disagrees" | "neutral"
    churn_intent: bool
    competitors: list[str]  # configured names mentioned, spelt as configured


def normalise(text: str) -> str:
    """Cleaned, lower-cased and Simplified: the form every matcher reads."""
    lowered = clean(text).lower()
    if HAN_CHAR.search(lowered):
        return to_simplified(lowered, set(HAN_CHAR.findall(lowered)))
    return lowered


def _latin_words(text: str) -> list[str]:
    return [word for word in words(text, None) if _WORDISH.match(word[0]) or HAN_CHAR.match(word)]


class Analyzer:
    """A project's configuration compiled once; `analyse` is then pure, thread-safe and cheap."""

    def __init__(self, config: TextConfig | None = None, sentiment_model: bool = True) -> None:
        """`sentiment_model=False` labels sentiment by the lexicon and rules alone (the
        shipped model on top of them is what bench/bench_text.py measures by default)."""
        self.config = config if config is not None else TextConfig()
        self._model = shipped_model() if sentiment_model else None
        self._topics = effective_topics(self.config)
        self._dictionary = UserDictionary(self.config.user_dictionary, normalise)
        self._matcher = TopicMatcher(self._topics, normalise, _latin_words)
        self._competitors: dict[str, str] = {}
        for name in self.config.competitors:
            self._competitors.setdefault(normalise(name).strip(), name)
        self._competitors.pop("", None)
        self._competitor_pattern = (
            re.compile(
                r"(?<![0-9a-z])(?:"
                + trie_pattern([n for n in self._competitors if _WORDISH.match(n[0])], True)
                + ")|"
                + trie_pattern([n for n in self._competitors if not _WORDISH.match(n[0])], True)
            )
            if self._competitors
            else None
        )

    def topics(self) -> list[TopicSpec]:
        """The effective topics after the configuration's overrides (disabled ones included)."""
        return list(self._topics)

    def match_topics(self, text: str) -> list[str]:
        """The enabled topics a piece of text (a comment, a phrase) mentions."""
        normalised = normalise(text)
        all_words = words(normalised, self._dictionary)
        return self._matcher.match(normalised, set(all_words), " " + " ".join(all_words) + " ")

    def analyse(self, comment: str, segment: str | None = None) -> CommentAnalysis:
        """The analysis of one comment; `segment` is the score's (promoter, passive, detractor).
        Reads the first 4,000 characters; never raises."""
        try:
            return self._analyse(comment, segment)
        except Exception:  # the pipeline must go on with the next comment whatever this one is
            _log.exception("comment analysis failed; answering an empty analysis")
            return CommentAnalysis(
                "other", [], [], "neutral", 0.0, _agreement(segment, "neutral"), False, []
            )

    def _analyse(self, comment: str, segment: str | None) -> CommentAnalysis:
        if not isinstance(comment, str):
            comment = str(comment)
        lowered = clean(comment).lower()
        han = set(HAN_CHAR.findall(lowered))
        text = to_simplified(lowered, han) if han else lowered
        all_words = words(text, self._dictionary)
        tokens = content_tokens(all_words, self._dictionary.terms)
        language = self._language(all_words, tokens, han, text)
        competitors: list[str] = []
        if self._competitor_pattern is not None:
            for match in self._competitor_pattern.finditer(text):
                name = self._competitors[match.group(0)]
                if name not in competitors:
                    competitors.append(name)
        churn_intent = has_churn_intent(text, bool(competitors))
        topic_words = all_words
        if "reported" in text:  # "the bug I reported" is no report: the verb is left out
            topic_words = words(_REPORTED.sub(" ", text), self._dictionary)
        joined = " " + " ".join(topic_words) + " "
        topic_ids = self._matcher.match(text, set(topic_words), joined)
        sentiment = analyse_sentiment(text, churn_intent, RELIABILITY in topic_ids)
        label, score = sentiment.label, sentiment.score
        if self._model is not None:
            probabilities = self._model.probabilities(
                dense_features(sentiment, churn_intent, text), ngram_features(text)
            )
            label = LABELS[max(range(len(LABELS)), key=probabilities.__getitem__)]
            # positive minus negative probability: its sign follows the label
            score = probabilities[0] - probabilities[1]
        if label == "negative" and PRAISE in topic_ids:
            topic_ids.remove(PRAISE)
        elif PRAISE not in topic_ids and self._praises(label, sentiment, topic_ids):
            topic_ids = [
                topic for topic in self._matcher.ids if topic in topic_ids or topic == PRAISE
            ]
        return CommentAnalysis(
            language=language,
            tokens=tokens,
            topics=topic_ids,
            sentiment=label,
            sentiment_score=round(score, 4),
            agreement=_agreement(segment, label),
            churn_intent=churn_intent,
            competitors=competitors,
        )

    def _praises(self, label: str, sentiment: Sentiment, topic_ids: list[str]) -> bool:
        """Praise of the product as a whole: a positive comment that names no aspect, or, in a
        mixed one, a positive clause that names none beside a complaint ("Nice features,
        horrible performance"); thanks alone is not praise (thanks for a shipped request)."""
        if PRAISE not in self._matcher.ids or label not in ("positive", "mixed"):
            return False
        if label == "positive" and not topic_ids:
            return True
        if label == "positive" or len(sentiment.clauses) < 2:
            return False  # a positive comment about an aspect praises that aspect
        for clause, positive, negative in sentiment.clauses:
            if positive < PRAISE_CLAUSE_MIN or positive <= negative or THANKS_ONLY.match(clause):
                continue
            clause_words = words(clause, self._dictionary)
            found = self._matcher.match(
                clause, set(clause_words), " " + " ".join(clause_words) + " "
            )
            if not any(topic != PRAISE for topic in found):
                return True
        return False

    @staticmethod
    def _language(all_words: list[str], tokens: list[str], han: set[str], text: str) -> str:
        if _KANA_OR_HANGUL.search(text):
            return "other"
        if not han:
            return "en" if any(is_latin_word(word) for word in all_words) else "other"
        counted = tokens or [w for w in all_words if HAN_CHAR.match(w) or is_latin_word(w)]
        latin = sum(1 for word in counted if is_latin_word(word))
        if counted and latin * 4 >= len(counted):
            return "mixed"
        return script_of(han)


def _agreement(segment: str | None, sentiment: str) -> str | None:
    if segment not in SEGMENTS:
        return None
    if segment == "passive" or sentiment in ("neutral", "mixed"):
        return "neutral"
    if (segment == "promoter") == (sentiment == "positive"):
        return "agrees"
    return "disagrees"
