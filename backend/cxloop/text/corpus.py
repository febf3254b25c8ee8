"""Statistics over many comments' tokens: TF-IDF keywords, distinctive terms (log-odds with an
informative Dirichlet prior) and suggested topics."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec

from cxloop.text.segment import HAN_CHAR, STOPWORDS

if TYPE_CHECKING:
    from cxloop.text.analyzer import Analyzer


class TermScore(msgspec.Struct, frozen=True):
    """A term's z-score of the log-odds ratio (positive: distinctive of a) and its counts."""

    term: str
    z: float
    count_a: int
    count_b: int


def keywords(tokens: Sequence[str], df: Mapping[str, int], docs: int, limit: int = 5) -> list[str]:
    """The `limit` tokens of one comment with the highest TF-IDF against a corpus of `docs`
    comments where `df[t]` contain t: tf × (ln((1 + docs) / (1 + df)) + 1), the smoothed idf,
    so a word in every comment sinks; ties broken by the token itself."""
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    scored = [
        (count * (math.log((1 + max(docs, 0)) / (1 + max(df.get(token, 0), 0))) + 1), token)
        for token, count in counts.items()
    ]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [token for _, token in scored[: max(limit, 0)]]


def distinctive_terms(
    a: Mapping[str, int],
    b: Mapping[str, int],
    prior: Mapping[str, int],
    limit: int = 20,
    prior_scale: float = 1.0,
) -> list[TermScore]:
    """Terms distinctive of `a` against `b` (Monroe, Colaresi & Quinn 2008, "Fightin' words"):
    α_w = prior_scale × prior[w] (+0.01 so no term has a zero prior), α0 = Σ α_w over the
    vocabulary, δ_w = log((y_a+α)/(n_a+α0−y_a−α)) − log((y_b+α)/(n_b+α0−y_b−α)),
    σ² ≈ 1/(y_a+α) + 1/(y_b+α), z = δ/σ. The `limit` terms with the highest positive z, ties by
    term; call with a and b swapped for the other side."""
    vocabulary = set(a) | set(b) | set(prior)
    alpha = {w: max(prior.get(w, 0), 0) * prior_scale + 0.01 for w in vocabulary}
    alpha0 = sum(alpha.values())
    n_a = sum(max(v, 0) for v in a.values())
    n_b = sum(max(v, 0) for v in b.values())
    scores: list[TermScore] = []
    for w in set(a) | set(b):
        y_a = max(a.get(w, 0), 0)
        y_b = max(b.get(w, 0), 0)
        if y_a + y_b == 0:
            continue
        aw = alpha[w]
        delta = math.log((y_a + aw) / (n_a + alpha0 - y_a - aw)) - math.log(
            (y_b + aw) / (n_b + alpha0 - y_b - aw)
        )
        z = delta / math.sqrt(1 / (y_a + aw) + 1 / (y_b + aw))
        if z > 0:
            scores.append(TermScore(term=w, z=z, count_a=y_a, count_b=y_b))
    scores.sort(key=lambda s: (-s.z, s.term))
    return scores[: max(limit, 0)]


def phrases(tokens: Sequence[str]) -> list[str]:
    """The tokens and their adjacent bigrams (Chinese joined without a space: 导出 速度 →
    导出速度; otherwise with one), the candidates of suggested topics."""
    out = list(tokens)
    for first, second in itertools.pairwise(tokens):
        if HAN_CHAR.match(first[-1]) and HAN_CHAR.match(second[0]):
            out.append(first + second)
        else:
            out.append(f"{first} {second}")
    return out


def suggest_topics(
    phrase_counts: Mapping[str, int], analyzer: Analyzer, limit: int = 10, min_count: int = 3
) -> list[tuple[str, int]]:
    """Frequent phrases (counted over comments, see `phrases`) that no enabled topic covers,
    most frequent first (ties: longer phrases first, then by phrase); a single Han character and stopwords are skipped, and
    a word is left out when a suggested phrase containing it is as frequent."""
    candidates = sorted(
        (
            (phrase, count)
            for phrase, count in phrase_counts.items()
            if count >= min_count and _suggestible(phrase)
        ),
        key=lambda item: (-item[1], -len(item[0]), item[0]),  # a phrase before its words
    )
    chosen: list[tuple[str, int]] = []
    for phrase, count in candidates:
        if len(chosen) >= limit:
            break
        if analyzer.match_topics(phrase):
            continue
        if any(_inside(phrase, other) and count <= other_count for other, other_count in chosen):
            continue
        chosen.append((phrase, count))
    return chosen


def _inside(part: str, phrase: str) -> bool:
    if HAN_CHAR.match(part[0]):
        return part in phrase
    return f" {part} " in f" {phrase} "


def _suggestible(phrase: str) -> bool:
    stripped = phrase.strip()
    if not stripped or stripped in STOPWORDS:
        return False
    return not (len(stripped) == 1 and HAN_CHAR.match(stripped))
