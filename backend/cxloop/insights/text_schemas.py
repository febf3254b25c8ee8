"""The comment-analysis routes' answers (``/v1/insights/config``, ``topics``, ``terms``,
``suggested-topics``, ``verbatims``), as msgspec Structs: the wire and OpenAPI schema."""

from __future__ import annotations

from typing import Literal

import msgspec

from cxloop.insights.config import InsightsConfig

__all__ = [
    "ConfigAnswer",
    "EffectiveTopic",
    "Quadrant",
    "SentimentMix",
    "SuggestedTopic",
    "SuggestedTopics",
    "TermRow",
    "Terms",
    "TopicRow",
    "Topics",
    "Verbatim",
    "VerbatimPage",
]

Quadrant = Literal["fix_first", "keep_up", "low_priority", "overkill"]


class EffectiveTopic(msgspec.Struct):
    """A topic as the analysis uses it: a built-in one (perhaps renamed, re-seeded or disabled
    by the configuration) or one the configuration added."""

    id: str
    names: dict[str, str]
    terms: list[str]
    enabled: bool
    builtin: bool


class ConfigAnswer(msgspec.Struct):
    """The project's insights configuration as it is in force, and its effect."""

    version: int
    updated_at: str | None
    config: InsightsConfig
    topics: list[EffectiveTopic]
    pending_comments: int  # comments waiting for (re)analysis under this version


class SentimentMix(msgspec.Struct):
    positive: int
    negative: int
    neutral: int
    mixed: int


class TopicRow(msgspec.Struct):
    """One topic among the comments in scope.

    ``metric`` is the kind's headline among the responses mentioning the topic (NPS in points
    for nps, % satisfied for csat/emoji/thumbs, the mean for ces) with its 95 % interval
    (adjusted Wald, Wilson, Student t). ``nps_impact`` is the net score (NPS for nps) of every
    response in scope minus the net score recomputed without this topic's detractors: how many
    points the topic costs (≤ 0). ``importance`` (= −impact) and ``performance`` (the topic's
    net score) place it in the priority matrix, cut at the medians over the topics with
    ratings: ``fix_first`` = high importance × low performance.
    """

    topic: str
    name: str
    builtin: bool
    comments: int
    share: float  # of the analysed comments in scope, 0–1
    sentiment: SentimentMix
    kind: str
    responses: int  # responses of that kind, with a score, mentioning the topic
    promoters: int
    passives: int
    detractors: int
    metric_name: str
    metric: float | None
    metric_low: float | None
    metric_high: float | None
    net_score: float | None
    nps_impact: float | None
    importance: float | None
    performance: float | None
    quadrant: Quadrant | None


class Topics(msgspec.Struct):
    kind: str
    lang: str
    comments: int  # analysed comments in scope
    pending_comments: int  # in the project, waiting for (re)analysis: not counted yet
    responses: int  # responses of the kind with a score in scope (the overall metric's base)
    overall_net_score: float | None
    importance_median: float | None
    performance_median: float | None
    topics: list[TopicRow]


class TermRow(msgspec.Struct):
    """A term distinctive of one side: log-odds ratio with an informative Dirichlet prior
    (Monroe, Colaresi & Quinn 2008) as a z-score; counts are token occurrences."""

    direction: Literal["detractor", "promoter"]
    term: str
    z: float
    count_detractors: int
    count_promoters: int


class Terms(msgspec.Struct):
    detractor_comments: int
    promoter_comments: int
    detractor_terms: list[TermRow]
    promoter_terms: list[TermRow]

    @property
    def rows(self) -> list[TermRow]:
        return [*self.detractor_terms, *self.promoter_terms]


class SuggestedTopic(msgspec.Struct):
    phrase: str
    comments: int


class SuggestedTopics(msgspec.Struct):
    comments: int  # analysed comments looked at (the newest in scope, at most the cap)
    suggestions: list[SuggestedTopic]


class Verbatim(msgspec.Struct):
    """A comment with its response's context and its analysis (null fields until analysed)."""

    response_id: str
    responded_at: str
    survey_id: str | None
    kind: str | None
    score: float | None
    segment: str | None
    comment: str
    account_id: str | None
    user_id: str | None
    feature: str | None
    plan: str | None
    band: str | None
    locale: str | None
    analysed: bool
    language: str | None
    sentiment: str | None
    sentiment_score: float | None
    agreement: str | None
    churn_intent: bool | None
    topics: list[str]
    competitors: list[str]
    keywords: list[str]


class VerbatimPage(msgspec.Struct):
    verbatims: list[Verbatim]
    next_cursor: str | None
