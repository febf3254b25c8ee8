"""What customers say, from their comments (secret key): ``/v1/insights/config`` (the user
dictionary, topics, competitors, kept user traits, alert flags), ``/v1/insights/topics``
(share, sentiment, the metric, NPS impact, priority matrix), ``/v1/insights/terms``
(distinctive terms of detractors vs promoters), ``/v1/insights/suggested-topics``,
``/v1/insights/verbatims``; CSV/Parquet with ``format=`` (insights/export.py).

The answers are built by the module's functions (``topics_answer``, …), which the
``cxloop insights`` commands call too; the SQL is in text_store.py.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency, Provide
from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody
from litestar.params import FromQuery, JSONBody, QueryParameter

from cxloop.api import ApiError, Audit, Db, Page, PageRequest, ProjectId, Transaction
from cxloop.db import Connection
from cxloop.insights import text_store as store
from cxloop.insights.analysis import AnalyzerCache, pending_comments
from cxloop.insights.config import (
    InsightsConfigError,
    StoredConfig,
    load_config,
    save_config,
    validate_insights_config,
)
from cxloop.insights.export import ExportOperation, FormatQuery, export_response
from cxloop.insights.stats import Counts, metric_family, summarise
from cxloop.insights.text_schemas import (
    ConfigAnswer,
    EffectiveTopic,
    Quadrant,
    SentimentMix,
    SuggestedTopic,
    SuggestedTopics,
    TermRow,
    Terms,
    TopicRow,
    Topics,
    Verbatim,
    VerbatimPage,
)
from cxloop.insights.text_store import TextFilters, TopicCounts
from cxloop.surveys import Kind, Segment
from cxloop.text import BUILTIN_TOPICS, Analyzer, distinctive_terms, phrases, suggest_topics

__all__ = [
    "InsightsTextController",
    "config_answer",
    "provide_text_filters",
    "suggested_answer",
    "terms_answer",
    "topic_metric",
    "topics_answer",
    "verbatims_answer",
]

Lang = Literal["en", "zh-CN", "zh-TW"]
Sentiment = Literal["positive", "negative", "neutral", "mixed"]
Language = Literal["zh-CN", "zh-TW", "en", "mixed", "other"]

# Suggestions look at the newest comments in scope, at most this many (a bounded scan).
SUGGESTION_COMMENTS = 20_000
TERMS_LIMIT = 20

_analyzers = AnalyzerCache(size=16)


def provide_text_filters(
    since: Annotated[
        date | None, QueryParameter(name="from", description="First day (UTC), inclusive.")
    ] = None,
    until: Annotated[
        date | None, QueryParameter(name="to", description="Last day (UTC), inclusive.")
    ] = None,
    kind: FromQuery[Kind | None] = None,
    survey: FromQuery[str | None] = None,
    feature: FromQuery[str | None] = None,
    plan: FromQuery[str | None] = None,
    band: FromQuery[str | None] = None,
    locale: FromQuery[str | None] = None,
    account: FromQuery[str | None] = None,
    language: FromQuery[Language | None] = None,
    sentiment: FromQuery[Sentiment | None] = None,
    topic: FromQuery[str | None] = None,
    churn_intent: FromQuery[bool | None] = None,
    segment: FromQuery[Segment | None] = None,
    score_min: FromQuery[float | None] = None,
    score_max: FromQuery[float | None] = None,
) -> TextFilters:
    """The filters every comment route takes (``filters``)."""
    if since is not None and until is not None and since > until:
        raise ApiError(400, "invalid_request", "from must be on or before to")
    if score_min is not None and score_max is not None and score_min > score_max:
        raise ApiError(400, "invalid_request", "score_min must not be above score_max")
    return TextFilters(
        since, until, kind, survey, feature, plan, band, locale, account, language, sentiment,
        topic, churn_intent, segment, score_min, score_max,
    )  # fmt: skip


Filters = NamedDependency[TextFilters]


async def _analyzer(stored: StoredConfig, project_id: str) -> Analyzer:
    return await _analyzers.get(project_id, stored)


def _effective_topics(analyzer: Analyzer) -> list[EffectiveTopic]:
    builtin = {topic.id for topic in BUILTIN_TOPICS}
    return [
        EffectiveTopic(
            id=t.id,
            names=dict(t.names),
            terms=list(t.terms),
            enabled=t.enabled,
            builtin=t.id in builtin,
        )
        for t in analyzer.topics()
    ]


def _name(names: dict[str, str], lang: str, fallback: str) -> str:
    return names.get(lang) or names.get("en") or next(iter(names.values()), fallback)


async def config_answer(conn: Connection, project_id: str) -> ConfigAnswer:
    stored = await load_config(conn, project_id)
    analyzer = await _analyzer(stored, project_id)
    return ConfigAnswer(
        version=stored.version,
        updated_at=stored.updated_at,
        config=stored.config,
        topics=_effective_topics(analyzer),
        pending_comments=await pending_comments(conn, project_id),
    )


# -- topics: metric, impact, priority matrix --------------------------------------------


def _net(promoters: int, detractors: int, n: int) -> float | None:
    return None if n == 0 else 100.0 * (promoters - detractors) / n


_METRIC_NAMES = {"nps": "nps", "share": "satisfied", "mean": "mean"}


def topic_metric(
    kind: str, counts: TopicCounts
) -> tuple[str, float | None, float | None, float | None]:
    """The kind's headline metric with its 95 % interval, among these responses: the rating
    routes' own summary (``stats.summarise``) over the topic's counts."""
    n = counts.responses
    name = _METRIC_NAMES[metric_family(kind)]  # type: ignore[arg-type]
    if kind == "ces" and counts.mean is None:
        return name, None, None, None
    total = (counts.mean or 0.0) * n
    squares = (counts.variance or 0.0) * max(0, n - 1) + (total * total / n if n else 0.0)
    summary = summarise(
        kind,  # type: ignore[arg-type]
        Counts(n, counts.promoters, counts.passives, counts.detractors, total, squares),
    )
    return name, summary.metric, summary.low, summary.high


def nps_impact(
    promoters: int, detractors: int, responses: int, topic_detractors: int
) -> float | None:
    """Net score of all responses minus the net score without this topic's detractors."""
    without = responses - topic_detractors
    overall = _net(promoters, detractors, responses)
    if overall is None or without <= 0:
        return None
    return overall - 100.0 * (promoters - (detractors - topic_detractors)) / without


def quadrants(
    points: Sequence[tuple[float | None, float | None]],
) -> tuple[list[Quadrant | None], float | None, float | None]:
    """Priority-matrix quadrants of (importance, performance) points, cut at the medians of
    the points that have both: importance at or above its median is high, performance below
    its median is low. ``fix_first`` = high importance × low performance."""
    known = [(i, p) for i, p in points if i is not None and p is not None]
    if not known:
        return [None] * len(points), None, None
    importance_median = statistics.median(i for i, _ in known)
    performance_median = statistics.median(p for _, p in known)
    answer: list[Quadrant | None] = []
    for importance, performance in points:
        if importance is None or performance is None:
            answer.append(None)
            continue
        high = importance >= importance_median
        low = performance < performance_median
        answer.append(
            ("fix_first" if low else "keep_up") if high else ("low_priority" if low else "overkill")
        )
    return answer, importance_median, performance_median


async def topics_answer(
    conn: Connection, project_id: str, filters: TextFilters, lang: str = "en"
) -> Topics:
    kind = filters.kind or "nps"
    stored = await load_config(conn, project_id)
    analyzer = await _analyzer(stored, project_id)
    overall = await store.overall_counts(conn, project_id, filters, kind)
    counts = await store.topic_counts(conn, project_id, filters, kind)
    empty = TopicCounts(0, 0, 0, 0, 0, 0, 0, 0, 0, None, None)
    builtin = {topic.id for topic in BUILTIN_TOPICS}
    rows = []
    for topic in analyzer.topics():
        if not topic.enabled:
            continue
        c = counts.get(topic.id, empty)
        metric_name, metric, low, high = topic_metric(kind, c)
        net = _net(c.promoters, c.detractors, c.responses)
        impact = (
            nps_impact(overall.promoters, overall.detractors, overall.responses, c.detractors)
            if c.responses
            else None
        )
        rows.append(
            TopicRow(
                topic=topic.id,
                name=_name(dict(topic.names), lang, topic.id),
                builtin=topic.id in builtin,
                comments=c.comments,
                share=0.0 if overall.comments == 0 else c.comments / overall.comments,
                sentiment=SentimentMix(c.positive, c.negative, c.neutral, c.mixed),
                kind=kind,
                responses=c.responses,
                promoters=c.promoters,
                passives=c.passives,
                detractors=c.detractors,
                metric_name=metric_name,
                metric=metric,
                metric_low=low,
                metric_high=high,
                net_score=net,
                nps_impact=impact,
                importance=None if impact is None else -impact,
                performance=net,
                quadrant=None,
            )
        )
    placed, importance_median, performance_median = quadrants(
        [(row.importance, row.performance) for row in rows]
    )
    for row, quadrant in zip(rows, placed, strict=True):
        row.quadrant = quadrant
    rows.sort(key=lambda row: (-row.comments, row.topic))
    return Topics(
        kind=kind,
        lang=lang,
        comments=overall.comments,
        pending_comments=await pending_comments(conn, project_id),
        responses=overall.responses,
        overall_net_score=_net(overall.promoters, overall.detractors, overall.responses),
        importance_median=importance_median,
        performance_median=performance_median,
        topics=rows,
    )


# -- terms, suggestions, verbatims -------------------------------------------------------


async def terms_answer(
    conn: Connection, project_id: str, filters: TextFilters, limit: int = TERMS_LIMIT
) -> Terms:
    detractors, promoters, prior, n_detractors, n_promoters = await store.term_counts(
        conn, project_id, filters
    )

    def compute() -> tuple[list[TermRow], list[TermRow]]:
        def rows(a: dict[str, int], b: dict[str, int], direction: str) -> list[TermRow]:
            scored = distinctive_terms(a, b, prior, limit=limit)
            return [
                TermRow(
                    direction=direction,  # type: ignore[arg-type]
                    term=s.term,
                    z=round(s.z, 4),
                    count_detractors=detractors.get(s.term, 0),
                    count_promoters=promoters.get(s.term, 0),
                )
                for s in scored
                if s.z > 0
            ]

        return rows(detractors, promoters, "detractor"), rows(promoters, detractors, "promoter")

    detractor_terms, promoter_terms = await asyncio.to_thread(compute)
    return Terms(n_detractors, n_promoters, detractor_terms, promoter_terms)


async def suggested_answer(
    conn: Connection, project_id: str, filters: TextFilters, limit: int = 10, min_count: int = 3
) -> SuggestedTopics:
    stored = await load_config(conn, project_id)
    analyzer = await _analyzer(stored, project_id)
    token_lists = await store.comment_tokens(conn, project_id, filters, SUGGESTION_COMMENTS)

    def compute() -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(set(phrases(tokens)))  # in how many comments, not how often
        return suggest_topics(counts, analyzer, limit=limit, min_count=min_count)

    suggestions = await asyncio.to_thread(compute)
    return SuggestedTopics(
        comments=len(token_lists),
        suggestions=[SuggestedTopic(phrase, count) for phrase, count in suggestions],
    )


def _verbatim(row: Any) -> Verbatim:
    return Verbatim(
        response_id=row["response_id"],
        responded_at=row["responded_at"].isoformat(),
        survey_id=row["survey_id"],
        kind=row["kind"],
        score=row["score"],
        segment=row["segment"],
        comment=row["comment"],
        account_id=row["account_id"],
        user_id=row["user_id"],
        feature=row["feature"],
        plan=row["plan"],
        band=row["band"],
        locale=row["locale"],
        analysed=row["analysed"],
        language=row["language"],
        sentiment=row["sentiment"],
        sentiment_score=row["sentiment_score"],
        agreement=row["agreement"],
        churn_intent=row["churn_intent"],
        topics=list(row["topics"] or []),
        competitors=list(row["competitors"] or []),
        keywords=list(row["keywords"] or []),
    )


async def verbatims_answer(
    conn: Connection, project_id: str, filters: TextFilters, page: PageRequest
) -> VerbatimPage:
    rows = await store.verbatims(
        conn, project_id, filters, after=page.after_time(str), limit=page.fetch
    )
    shown, next_cursor = page.cut(
        rows, lambda last: [last["responded_at"].isoformat(), last["response_id"]]
    )
    return VerbatimPage([_verbatim(row) for row in shown], next_cursor)


# -- the routes --------------------------------------------------------------------------

_LangQuery = Annotated[
    Lang, QueryParameter(name="lang", description="Language of topic names: en, zh-CN, zh-TW.")
]


@dataclass
class ConfigBodyOperation(Operation):
    """``PUT /v1/insights/config`` reads its body as raw JSON (to name every problem in one
    400, not the first one), so the schema would say "any object"; it is an InsightsConfig."""

    def __post_init__(self) -> None:
        reference = Reference(ref="#/components/schemas/InsightsConfig")
        self.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=reference)},
            required=True,
            description="The whole configuration; fields left out take their defaults.",
        )


class InsightsTextController(Controller):
    path = "/v1/insights"
    tags = ["insights"]
    dependencies = {"filters": Provide(provide_text_filters, sync_to_thread=False)}

    @get(
        "/config",
        permission="insights:read",
        summary="The insights configuration in force, its version, the topics.",
    )
    async def get_insights_config(self, project_id: ProjectId, db: Db) -> ConfigAnswer:
        return await config_answer(db, project_id)

    @put(
        "/config",
        permission="config:write",
        operation_class=ConfigBodyOperation,
        summary="Set the user dictionary, topic overrides, competitors, kept user traits and "
        "alert flags; every comment is analysed again (pending_comments says how many).",
    )
    async def set_insights_config(
        self,
        project_id: ProjectId,
        transaction: Transaction,
        audit: Audit,
        data: JSONBody[dict[str, Any]],
    ) -> ConfigAnswer:
        try:
            config = validate_insights_config(data)
        except InsightsConfigError as exc:
            raise ApiError(
                400,
                "invalid_config",
                "the insights configuration is not valid: " + "; ".join(exc.problems),
                problems=exc.problems,
            ) from exc
        stored = await save_config(transaction, project_id, config)
        await audit.record(
            transaction,
            "insights_config.updated",
            "insights_config",
            None,
            {"version": stored.version},
        )
        return await config_answer(transaction, project_id)

    @get(
        "/topics",
        permission="insights:read",
        operation_class=ExportOperation,
        summary="Topics of the comments: share, sentiment, the kind's metric with its interval, "
        "NPS impact and the priority-matrix quadrant.",
    )
    async def insights_topics(
        self,
        project_id: ProjectId,
        db: Db,
        filters: Filters,
        lang: _LangQuery = "en",
        format: FormatQuery = "json",
    ) -> Topics | Response[bytes]:
        answer = await topics_answer(db, project_id, filters, lang)
        if format != "json":
            return export_response(answer.topics, TopicRow, format, "cxloop-topics")
        return answer

    @get(
        "/terms",
        permission="insights:read",
        operation_class=ExportOperation,
        summary="Terms distinctive of detractors' comments against promoters', and the reverse.",
    )
    async def insights_terms(
        self,
        project_id: ProjectId,
        db: Db,
        filters: Filters,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = TERMS_LIMIT,
        format: FormatQuery = "json",
    ) -> Terms | Response[bytes]:
        answer = await terms_answer(db, project_id, filters, limit)
        if format != "json":
            return export_response(answer.rows, TermRow, format, "cxloop-terms")
        return answer

    @get(
        "/suggested-topics",
        permission="insights:read",
        operation_class=ExportOperation,
        summary="Frequent phrases of the comments that no topic covers: candidates for topics.",
    )
    async def insights_suggested_topics(
        self,
        project_id: ProjectId,
        db: Db,
        filters: Filters,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        min_count: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 3,
        format: FormatQuery = "json",
    ) -> SuggestedTopics | Response[bytes]:
        answer = await suggested_answer(db, project_id, filters, limit, min_count)
        if format != "json":
            return export_response(
                answer.suggestions, SuggestedTopic, format, "cxloop-suggested-topics"
            )
        return answer

    @get(
        "/verbatims",
        permission="responses:read",
        operation_class=ExportOperation,
        summary="Comments newest first with their analysis and context; cursor pagination.",
    )
    async def insights_verbatims(
        self,
        project_id: ProjectId,
        db: Db,
        page: Page,
        filters: Filters,
        format: FormatQuery = "json",
    ) -> VerbatimPage | Response[bytes]:
        answer = await verbatims_answer(db, project_id, filters, page)
        if format != "json":
            return export_response(answer.verbatims, Verbatim, format, "cxloop-verbatims")
        return answer
