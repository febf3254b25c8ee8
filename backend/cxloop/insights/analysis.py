"""The analysis of comments, a pipeline step after the projection (never in the ingest path).

A comment is *pending* when its ``analysis_version`` is not the project's insights_config
version: new comments (NULL, also after the projection saw the comment change) and every
comment of a project whose configuration changed. A batch is claimed with ``FOR UPDATE SKIP
LOCKED`` (two analysers never take the same comment), analysed off the event loop by the
project's compiled ``cxloop.text.Analyzer``, and written in one transaction together with
- the document frequencies of ``comment_term_df`` (the old tokens of a re-analysed comment
  counted out, the new ones in; the term ``''`` holds the number of analysed comments), from
  which each comment's TF-IDF keywords are taken, and
- the alerts its churn intent or competitor mentions open or close (``cxloop.alerts``).
A crash anywhere rolls all of it back and the batch is simply taken again, so the frequencies
stay exact: ``docs`` of a term is the number of the project's comments whose stored tokens
hold it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import msgspec

from cxloop.alerts import open_comment_alerts
from cxloop.db import Connection, Pool, ResilientPool
from cxloop.insights.config import StoredConfig, load_config
from cxloop.ops import Registry
from cxloop.surveys import is_kind, segment_of
from cxloop.text import Analyzer, CommentAnalysis, keywords

__all__ = [
    "DOCS_TERM",
    "AnalyzerCache",
    "analyse_in_pipeline",
    "analyse_pending",
    "df_delta",
    "pending_comments",
    "projects_with_pending_comments",
]

log = logging.getLogger("cxloop.insights")

# The comment_term_df row that counts the analysed comments themselves (no token is empty).
DOCS_TERM = ""
KEYWORDS_PER_COMMENT = 5

# Pending = NULL, or a version below or above the project's: three conditions, each a range
# of survey_responses_analysis_idx (IS DISTINCT FROM, or one OR, would read the table).
_PENDING = """
SELECT 1 FROM survey_responses AS r
WHERE r.project_id = {project} AND r.comment IS NOT NULL AND r.analysis_version {condition}
"""
# Scalar subqueries in index order (not EXISTS, which the planner turns into a scan of the
# table when most rows are analysed): each is one probe of the index per project.
PENDING_PROJECTS = f"""
SELECT p.id AS project_id
FROM projects AS p
LEFT JOIN insights_config AS c ON c.project_id = p.id
CROSS JOIN LATERAL (SELECT coalesce(c.version, 1) AS version) AS v
WHERE ($1::text IS NULL OR p.id = $1)
  AND ((({_PENDING.format(project="p.id", condition="IS NULL")}
             ORDER BY r.analysis_version LIMIT 1)) IS NOT NULL
       OR (({_PENDING.format(project="p.id", condition="< v.version")}
             ORDER BY r.analysis_version LIMIT 1)) IS NOT NULL
       OR (({_PENDING.format(project="p.id", condition="> v.version")}
             ORDER BY r.analysis_version LIMIT 1)) IS NOT NULL)
ORDER BY p.id
"""  # noqa: S608 - fixed fragments
COUNT_PENDING = f"""
SELECT (SELECT count(*) FROM ({_PENDING.format(project="$1", condition="IS NULL")}) AS n)
     + (SELECT count(*) FROM ({_PENDING.format(project="$1", condition="< $2")}) AS o)
     + (SELECT count(*) FROM ({_PENDING.format(project="$1", condition="> $2")}) AS w)
"""  # noqa: S608 - fixed fragments
# Claimed by three range scans of survey_responses_analysis_idx, each in index order (so the
# planner walks the index rather than the table, and a backlog — a first analysis, a project's
# re-analysis — is never rescanned from the start of the table): new comments (NULL), older
# versions, newer ones (only after a configuration row was recreated).
_CLAIM = """
SELECT r.response_id, r.comment, r.kind, r.score, r.tokens
FROM survey_responses AS r
WHERE r.project_id = $1 AND r.comment IS NOT NULL AND r.analysis_version {condition}
ORDER BY r.analysis_version
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
CLAIM_NEW = _CLAIM.format(condition="IS NULL")
CLAIM_OLDER = _CLAIM.format(condition="< $3")
CLAIM_NEWER = _CLAIM.format(condition="> $3")

# One statement per batch, every row in term order (two analysers of a project, the pipeline
# and `cxloop insights reanalyse`, lock rows in the same order: no deadlock). The inserted row
# carries greatest(delta, 0) because CHECK (docs >= 0) is tested before the conflict is seen;
# the update applies the real delta.
APPLY_DF = """
WITH delta AS (
    SELECT term, delta FROM unnest($2::text[], $3::bigint[]) AS d(term, delta)
)
INSERT INTO comment_term_df AS t (project_id, term, docs)
SELECT $1, term, greatest(delta, 0) FROM delta
ORDER BY term
ON CONFLICT (project_id, term) DO UPDATE
SET docs = t.docs + (SELECT d.delta FROM delta AS d WHERE d.term = excluded.term)
"""
SELECT_DF = """
SELECT term, docs FROM comment_term_df WHERE project_id = $1 AND term = any($2::text[])
"""
# Ragged lists (tokens, keywords, topics, competitors per comment) travel as one JSON array
# of four arrays per comment. "= any($3)" makes the rows a primary-key lookup whatever the
# planner thinks of the table (without it, a hash join read the whole project per batch).
WRITE_ANALYSIS = """
UPDATE survey_responses AS r
SET language = i.language,
    tokens = ARRAY(SELECT e FROM jsonb_array_elements_text(i.lists::jsonb -> 0)
                   WITH ORDINALITY AS x(e, n) ORDER BY n),
    keywords = ARRAY(SELECT e FROM jsonb_array_elements_text(i.lists::jsonb -> 1)
                     WITH ORDINALITY AS x(e, n) ORDER BY n),
    topics = ARRAY(SELECT e FROM jsonb_array_elements_text(i.lists::jsonb -> 2)
                   WITH ORDINALITY AS x(e, n) ORDER BY n),
    competitors = ARRAY(SELECT e FROM jsonb_array_elements_text(i.lists::jsonb -> 3)
                        WITH ORDINALITY AS x(e, n) ORDER BY n),
    sentiment = i.sentiment,
    sentiment_score = i.sentiment_score,
    agreement = i.agreement,
    churn_intent = i.churn_intent,
    analysis_version = $2,
    analysed_at = now()
FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::real[], $8::text[], $9::bool[])
     AS i(response_id, language, lists, sentiment, sentiment_score, agreement, churn_intent)
WHERE r.project_id = $1 AND r.response_id = any($3::text[]) AND r.response_id = i.response_id
"""


_T = TypeVar("_T")


def df_delta(
    old_tokens: Sequence[Sequence[str] | None], new_tokens: Sequence[Sequence[str]]
) -> dict[str, int]:
    """The change to the document frequencies when these comments' stored tokens (``None``:
    never analysed) are replaced by new ones: each term counts once per comment; the
    ``DOCS_TERM`` counts the comments. Terms whose change nets to zero are left out."""
    delta: Counter[str] = Counter()
    for old, new in zip(old_tokens, new_tokens, strict=True):
        if old is not None:
            delta[DOCS_TERM] -= 1
            delta.subtract({term for term in old if term})
        delta[DOCS_TERM] += 1
        delta.update({term for term in new if term})
    return {term: change for term, change in delta.items() if change}


class AnalyzerCache:
    """Compiled analysers per (project, configuration version), the most recent few kept."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._analyzers: OrderedDict[tuple[str, int], Analyzer] = OrderedDict()

    async def get(self, project_id: str, stored: StoredConfig) -> Analyzer:
        key = (project_id, stored.version)
        analyzer = self._analyzers.get(key)
        if analyzer is None:
            # Compiling (the user dictionary into jieba, the topic matchers) is CPU work too.
            analyzer = await asyncio.to_thread(Analyzer, stored.config.text_config())
            self._analyzers[key] = analyzer
            while len(self._analyzers) > self.size:
                self._analyzers.popitem(last=False)
        self._analyzers.move_to_end(key)
        return analyzer


_CACHE = AnalyzerCache()


def _segment(kind: Any, score: Any) -> str | None:
    if not is_kind(kind) or score is None:
        return None
    return segment_of(kind, float(score))


def _analyse_all(analyzer: Analyzer, rows: Sequence[asyncpg.Record]) -> list[CommentAnalysis]:
    return [analyzer.analyse(row["comment"], _segment(row["kind"], row["score"])) for row in rows]


def _keywords_all(
    analyses: Sequence[CommentAnalysis], df: dict[str, int], docs: int
) -> list[list[str]]:
    return [keywords(a.tokens, df, docs, KEYWORDS_PER_COMMENT) for a in analyses]


async def claim_pending(
    conn: Connection, project_id: str, version: int, limit: int
) -> list[asyncpg.Record]:
    """Lock up to ``limit`` of the project's pending comments (none another analyser holds)."""
    rows = list(await conn.fetch(CLAIM_NEW, project_id, limit))
    for query in (CLAIM_OLDER, CLAIM_NEWER):
        if len(rows) >= limit:
            break
        rows += await conn.fetch(query, project_id, limit - len(rows), version)
    return rows


@dataclass
class BatchResult:
    analysed: int
    alerts: int


async def analyse_batch(
    conn: Connection, project_id: str, *, batch: int = 500, cache: AnalyzerCache | None = None
) -> BatchResult:
    """Claim, analyse and write one batch of the project's pending comments, in one
    transaction; how many (0: nothing pending, or all of it claimed by another analyser)."""
    cache = _CACHE if cache is None else cache
    async with conn.transaction():
        stored = await load_config(conn, project_id)
        rows = await claim_pending(conn, project_id, stored.version, batch)
        if not rows:
            return BatchResult(0, 0)
        analyzer = await cache.get(project_id, stored)
        analyses = await asyncio.to_thread(_analyse_all, analyzer, rows)
        delta = df_delta([row["tokens"] for row in rows], [a.tokens for a in analyses])
        if delta:
            terms = sorted(delta)
            await conn.execute(APPLY_DF, project_id, terms, [delta[t] for t in terms])
        wanted = sorted({DOCS_TERM, *(t for a in analyses for t in a.tokens)})
        df = {r["term"]: int(r["docs"]) for r in await conn.fetch(SELECT_DF, project_id, wanted)}
        docs = df.pop(DOCS_TERM, 0)
        keyword_lists = await asyncio.to_thread(_keywords_all, analyses, df, docs)
        response_ids = [row["response_id"] for row in rows]
        await conn.execute(
            WRITE_ANALYSIS,
            project_id,
            stored.version,
            response_ids,
            [a.language for a in analyses],
            [
                msgspec.json.encode([a.tokens, kw, a.topics, a.competitors]).decode()
                for a, kw in zip(analyses, keyword_lists, strict=True)
            ],
            [a.sentiment for a in analyses],
            [a.sentiment_score for a in analyses],
            [a.agreement for a in analyses],
            [a.churn_intent for a in analyses],
        )
        config = stored.config
        alerts = await open_comment_alerts(
            conn,
            project_id,
            response_ids,
            churn_intent=[a.churn_intent and config.alert_on_churn_intent for a in analyses],
            competitor=[bool(a.competitors) and config.alert_on_competitor for a in analyses],
        )
    return BatchResult(len(rows), alerts)


async def projects_with_pending_comments(
    conn: Connection, project_id: str | None = None
) -> list[str]:
    return [r["project_id"] for r in await conn.fetch(PENDING_PROJECTS, project_id)]


async def pending_comments(conn: Connection, project_id: str) -> int:
    """How many of the project's comments wait for (re)analysis."""
    version = (await load_config(conn, project_id)).version
    count = await conn.fetchval(COUNT_PENDING, project_id, version)
    return int(count or 0)


async def analyse_pending(
    pool_or_conn: Pool | Connection,
    *,
    batch: int = 500,
    budget_s: float = 1.0,
    project_id: str | None = None,
    cache: AnalyzerCache | None = None,
    isolate_failures: bool = False,
) -> int:
    """Analyse pending comments (of every project, or one) until none is left or ``budget_s``
    has passed (a batch started is finished); how many were analysed.

    Projects take turns, a batch each, so one project's re-analysis does not hold back the
    new comments of the others. Given a pool, each batch takes a connection of its own; given
    a connection, it is used. With ``isolate_failures`` a project whose batch fails is logged
    and left for the next call while the others go on (the pipeline's choice).
    """
    deadline = time.monotonic() + budget_s
    done = 0

    async def run(work: Callable[[Connection], Awaitable[_T]]) -> _T:
        if isinstance(pool_or_conn, asyncpg.Pool):
            async with pool_or_conn.acquire() as conn:
                return await work(conn)
        return await work(pool_or_conn)

    async def projects(conn: Connection) -> list[str]:
        return await projects_with_pending_comments(conn, project_id)

    waiting = await run(projects)
    while waiting:
        for project in list(waiting):

            async def one(conn: Connection, project: str = project) -> BatchResult:
                return await analyse_batch(conn, project, batch=batch, cache=cache)

            try:
                result = await run(one)
            except Exception:
                if not isolate_failures:
                    raise
                log.exception("comment analysis of %s failed, will retry", project)
                result = BatchResult(0, 0)
            done += result.analysed
            if result.analysed < batch:
                waiting.remove(project)
            if time.monotonic() >= deadline:
                return done
    return done


async def analyse_in_pipeline(
    database: ResilientPool, *, budget_s: float = 0.5, registry: Registry | None = None
) -> int:
    """One bounded round for the pipeline loop: PostgreSQL being away or a failing batch is
    logged and retried next round, never fatal to compaction and projection. With a
    ``registry``, the round is counted in ``/metrics``."""
    if database.pool is None:
        return 0
    analysed = failures = None
    if registry is not None:
        analysed = registry.counter(
            "cxloop_comments_analysed_total", "Comments analysed (or re-analysed) by the pipeline."
        )
        failures = registry.counter(
            "cxloop_comment_analysis_errors_total", "Comment analysis rounds that failed (retried)."
        )
    try:
        done = await analyse_pending(database.pool, budget_s=budget_s, isolate_failures=True)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("comment analysis failed, will retry: %s", exc)
    except Exception:
        # A comment the analyser chokes on (a bug) must not stop the pipeline: logged with
        # the traceback and retried; the batch's transaction was rolled back.
        log.exception("comment analysis failed, will retry")
    else:
        if analysed is not None:
            analysed.inc(done)
        return done
    if failures is not None:
        failures.inc()
    return 0
