"""The pipeline's comment analysis (``cxloop.insights.analyse_pending``) against PostgreSQL.

    .venv/bin/python bench/bench_comment_analysis.py [--comments 20000] [--database-url URL]

Loads N responses whose comments are drawn from the labelled sets (bench/textsets) into a fresh
embedded PostgreSQL with COPY, then times what the pipeline does with them: a first analysis
(analysis columns, the project's term frequencies, TF-IDF keywords and alerts from words, one
transaction per batch of 500) and a re-analysis after a configuration change. The baseline,
measured in the same run on the same comments, is ``Analyzer.analyse`` alone: the ratio says
what the database work and the batching cost on top of the text analysis. At the end the term
frequencies are checked against a recount (they must be exact).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cxloop.db import apply_migrations, create_pool, database_url_for  # noqa: E402
from cxloop.insights import analyse_pending  # noqa: E402
from cxloop.insights.config import InsightsConfig, save_config  # noqa: E402
from cxloop.projects.service import create_project  # noqa: E402
from cxloop.surveys import segment_of  # noqa: E402
from cxloop.text import Analyzer  # noqa: E402

SETS = ("comments_en", "comments_zh", "shifted_en", "shifted_zh")

# Term frequencies recounted from the analysed comments, against what the analysis kept.
RECOUNT = """
WITH ref AS (
    SELECT term, count(*) AS docs
    FROM survey_responses AS r, LATERAL (SELECT DISTINCT unnest(r.tokens) AS term) AS t
    WHERE r.project_id = $1 AND r.tokens IS NOT NULL GROUP BY term
    UNION ALL
    SELECT '', count(*) FROM survey_responses WHERE project_id = $1 AND tokens IS NOT NULL
)
SELECT count(*) FROM ref
FULL JOIN (SELECT term, docs FROM comment_term_df WHERE project_id = $1 AND docs > 0) AS d
    USING (term)
WHERE ref.docs IS DISTINCT FROM d.docs
"""


def comments(count: int) -> list[tuple[str, str, float]]:
    """(text, kind, score) drawn with replacement from the labelled sets."""
    pool = []
    for name in SETS:
        for line in (HERE / "textsets" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            pool.append((row["text"], row["kind"], float(row["score"])))
    rng = random.Random(15)
    return [rng.choice(pool) for _ in range(count)]


def analyser_alone(drawn: list[tuple[str, str, float]]) -> float:
    """Comments per CPU-second of ``Analyzer.analyse`` on the same comments (the baseline)."""
    analyzer = Analyzer()
    for text, kind, score in drawn[:200]:
        analyzer.analyse(text, segment_of(kind, score))  # warm: jieba's dictionary, caches
    started = time.process_time()
    for text, kind, score in drawn:
        analyzer.analyse(text, segment_of(kind, score))
    return len(drawn) / (time.process_time() - started)


async def run(url: str, drawn: list[tuple[str, str, float]]) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    await apply_migrations(conn)
    project = await create_project(conn, "bench-comments")
    now = datetime.now(UTC)
    records = [
        (project.id, f"r{i}", kind, score, text, False, f"m{i}", now - timedelta(seconds=i), now)
        for i, (text, kind, score) in enumerate(drawn)
    ]
    await conn.copy_records_to_table(
        "survey_responses",
        records=records,
        columns=["project_id", "response_id", "kind", "score", "comment", "partial",
                 "message_id", "responded_at", "updated_at"],
    )  # fmt: skip
    await conn.close()
    figures: dict[str, float] = {}
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        for label in ("first analysis", "re-analysis after a configuration change"):
            if label.startswith("re-"):
                async with pool.acquire() as c:
                    config = InsightsConfig(competitors=["Mixpanel", "神策"])
                    await save_config(c, project.id, config)
            started, done = time.perf_counter(), 0
            while step := await analyse_pending(pool, budget_s=5.0):
                done += step
            rate = done / (time.perf_counter() - started)
            figures[label] = rate
            print(f"{label}: {done:,} comments, {rate:,.0f} comments/s (wall clock)", flush=True)
        async with pool.acquire() as c:
            differing = await c.fetchval(RECOUNT, project.id)
        print(f"term frequencies differing from a recount: {differing}")
        if differing:
            raise SystemExit("the term frequencies are not exact")
    finally:
        await pool.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comments", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="default: an embedded PostgreSQL")
    args = parser.parse_args()
    drawn = comments(args.comments)
    baseline = analyser_alone(drawn)
    print(f"baseline: Analyzer.analyse alone {baseline:,.0f} comments per CPU-second", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="cxloop-comments-bench-") as tmp,
        database_url_for(args.database_url, Path(tmp) / "pg") as url,
    ):
        figures = asyncio.run(run(url, drawn))
    for label, rate in figures.items():
        print(f"{label}: {rate / baseline:.2f} of the analyser alone")


if __name__ == "__main__":
    main()
