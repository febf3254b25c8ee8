"""Build the labelled comment sets (``*.jsonl``) from the annotator's source files in ``src/``.

A source line is ``lang|kind+score|sentiment|topics|churn|competitors|text``: ``lang`` the
annotator's intent (en, cn, tw, mx, ot), ``kind+score`` like ``n9`` (NPS 9), ``c4`` (CSAT),
``e2`` (CES), ``t1`` (thumbs), sentiment ``+ - 0 ~`` (positive, negative, neutral, mixed),
topics as short names separated by spaces, churn ``y`` or empty, competitors separated by
commas. The language label is computed by the written rule (README) and must agree with
the annotator's intent; the split is a stable hash of the id. Run it after editing ``src/``:

    .venv/bin/python bench/textsets/build.py
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

import jieba
import zhconv

HERE = Path(__file__).resolve().parent

KINDS = {"n": "nps", "c": "csat", "e": "ces", "t": "thumbs"}
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "thumbs": (0, 1)}
SENTIMENTS = {"+": "positive", "-": "negative", "0": "neutral", "~": "mixed"}
TOPICS = {
    "perf": "performance",
    "rel": "reliability",
    "price": "pricing",
    "use": "usability",
    "docs": "onboarding_docs",
    "sup": "support",
    "integ": "integration_import_export",
    "rep": "reporting_dashboards",
    "mob": "mobile",
    "login": "permissions_login",
    "feat": "feature_request",
    "praise": "praise",
}
INTENTS = {"en": "en", "cn": "zh-CN", "tw": "zh-TW", "mx": "mixed", "ot": "other"}
COMPETITORS = (
    "Mixpanel", "Amplitude", "Pendo", "Heap", "Tableau", "Power BI",
    "神策", "GrowingIO", "诸葛io", "帆软", "友盟",
)  # fmt: skip
SETS = {
    "comments_en": ("en", False),
    "comments_zh": ("zh", False),
    "shifted_en": ("sen", True),
    "shifted_zh": ("szh", True),
}

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z]")


def language_of(text: str) -> str:
    """The label rule: no Han → en (or other without Latin letters); Han with Latin words at
    least a quarter of the word tokens → mixed; else zh-TW when any character is Traditional
    (it changes under conversion to Simplified), zh-CN otherwise."""
    if not HAN.search(text):
        return "en" if LATIN_WORD.search(text) else "other"
    words = [t for t in jieba.lcut(text) if HAN.search(t) or LATIN_WORD.search(t)]
    latin = sum(1 for t in words if not HAN.search(t))
    if latin * 4 >= len(words):
        return "mixed"
    return "zh-TW" if zhconv.convert(text, "zh-cn") != text else "zh-CN"


def is_heldout(row_id: str) -> bool:
    """40 % of the rows, by a hash that does not move when rows are added or relabelled."""
    digest = hashlib.blake2b(row_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 5 < 2


def parse(line: str, row_id: str, all_heldout: bool) -> tuple[dict[str, object], str]:
    lang, kind_score, sentiment, topics, churn, competitors, text = line.split("|", 6)
    kind = KINDS[kind_score[0]]
    score = float(kind_score[1:])
    low, high = SCORE_RANGES[kind]
    if not low <= score <= high:
        raise ValueError(f"{row_id}: score {score} outside {kind} {low}..{high}")
    names = [c.strip() for c in competitors.split(",") if c.strip()]
    for name in names:
        if name not in COMPETITORS:
            raise ValueError(f"{row_id}: unknown competitor {name!r}")
        if name.lower() not in zhconv.convert(text, "zh-cn").lower():
            raise ValueError(f"{row_id}: competitor {name!r} not in the text")
    text = text.strip()
    row: dict[str, object] = {
        "id": row_id,
        "text": text,
        "language": language_of(text),
        "kind": kind,
        "score": int(score) if score.is_integer() else score,
        "sentiment": SENTIMENTS[sentiment],
        "topics": [TOPICS[t] for t in topics.split()],
        "churn_intent": churn == "y",
        "competitors": names,
        "split": "heldout" if all_heldout or is_heldout(row_id) else "train",
    }
    return row, INTENTS[lang]


def build(name: str) -> list[dict[str, object]]:
    prefix, all_heldout = SETS[name]
    lines = [
        line
        for line in (HERE / "src" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    rows = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        row, intent = parse(line, f"{prefix}-{number:04d}", all_heldout)
        if row["text"] in seen:
            raise ValueError(f"{row['id']}: duplicate text {row['text']!r}")
        seen.add(str(row["text"]))
        if row["language"] != intent:
            print(f"warning {row['id']}: intended {intent}, rule says {row['language']}: "
                  f"{row['text']}", file=sys.stderr)  # fmt: skip
        rows.append(row)
    return rows


def main() -> None:
    jieba.setLogLevel(60)
    for name in SETS:
        if not (HERE / "src" / f"{name}.txt").exists():
            continue
        rows = build(name)
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows), dict(Counter(str(r["language"]) for r in rows)),
              dict(Counter(str(r["split"]) for r in rows)))  # fmt: skip


if __name__ == "__main__":
    main()
