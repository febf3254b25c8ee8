"""Rating statistics and their significance: pure functions (docs/insights-ratings.md).

A group of ratings is summarised by its counts (``Counts``); each kind has one headline metric:

- NPS (``nps``): % promoters − % detractors, in points (−100…100), adjusted-Wald interval;
- CSAT-like (``csat``, ``emoji``, ``thumbs``): % satisfied (the promoter segment), Wilson interval;
- CES (``ces``): the mean score (lower is easier), Student-t interval; also % low effort.

A change between two periods is tested per kind (NPS: normal test of the difference with
var = (p₊ + p₋ − (p₊ − p₋)²)/n per period; CSAT: two-proportion z; CES: Welch's t), and a
segment's change against the rest of the population's change (difference in differences,
variance = the sum of the four variances). p-values of the segments of one answer are adjusted
together (Benjamini–Hochberg); a change is significant only when every group tested has at
least ``MIN_N`` ratings and the adjusted p (q) is below ``ALPHA``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple

from cxloop.surveys import (
    Z95,
    Kind,
    adjusted_wald,
    mean_interval,
    normal_cdf,
    t_cdf,
    t_quantile,
    wilson,
)

__all__ = [
    "ALPHA",
    "MIN_N",
    "Change",
    "Counts",
    "NoteCode",
    "Summary",
    "benjamini_hochberg",
    "change_against_rest",
    "change_between",
    "metric_family",
    "settle",
    "summarise",
]

ALPHA: Final = 0.05
MIN_N: Final = 10  # fewer ratings than this in a group: reported, never called significant

Family = Literal["nps", "share", "mean"]

# Why a change is not tested, as a stable code next to its English note (the console words it
# in the reader's language): no_ratings — a group has none; few_ratings — a group has fewer
# than MIN_N (shown, never called significant); too_few — the variance is undefined (e.g. one
# CES rating), so there is no difference to show. ``note_groups`` names the groups concerned:
# current, previous (compare=previous); segment_current, segment_previous, rest_current,
# rest_previous (compare=rest).
NoteCode = Literal["no_ratings", "few_ratings", "too_few"]


def metric_family(kind: Kind) -> Family:
    """How a kind is summarised: NPS, a share of satisfied answers, or a mean (CES)."""
    if kind == "nps":
        return "nps"
    return "mean" if kind == "ces" else "share"


class Counts(NamedTuple):
    """What the store aggregates per group: enough for every metric and its variance."""

    n: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    total: float = 0.0  # sum of scores (CES mean)
    squares: float = 0.0  # sum of squared scores (CES variance)

    def plus(self, other: Counts) -> Counts:
        return Counts(
            self.n + other.n,
            self.promoters + other.promoters,
            self.passives + other.passives,
            self.detractors + other.detractors,
            self.total + other.total,
            self.squares + other.squares,
        )

    def minus(self, other: Counts) -> Counts:
        return Counts(
            self.n - other.n,
            self.promoters - other.promoters,
            self.passives - other.passives,
            self.detractors - other.detractors,
            self.total - other.total,
            self.squares - other.squares,
        )

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def sample_variance(self) -> float:
        """The unbiased variance of the scores (n − 1); 0 for fewer than two."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


class Summary(NamedTuple):
    """A group's headline metric, its 95% interval and the variance of the metric."""

    n: int
    promoters: int
    passives: int
    detractors: int
    metric: float | None
    low: float | None
    high: float | None
    variance: float | None  # of the metric, for tests of change; None when undefined
    low_effort: float | None = None  # CES: % of answers in the easy (promoter) segment


def summarise(kind: Kind, counts: Counts) -> Summary:
    """The kind's metric over ``counts`` (None when there are no ratings)."""
    n = counts.n
    base = (n, counts.promoters, counts.passives, counts.detractors)
    if n <= 0:
        return Summary(*base, None, None, None, None)
    family = metric_family(kind)
    if family == "nps":
        p, d = counts.promoters / n, counts.detractors / n
        centre, half = adjusted_wald(counts.promoters, counts.passives, counts.detractors)
        variance = 1e4 * max(0.0, p + d - (p - d) ** 2) / n
        return Summary(
            *base,
            100.0 * (p - d),
            max(-100.0, 100.0 * (centre - half)),
            min(100.0, 100.0 * (centre + half)),
            variance,
        )
    if family == "share":
        share = wilson(counts.promoters, n)
        return Summary(
            *base,
            100.0 * share.estimate,
            100.0 * share.low,
            100.0 * share.high,
            1e4 * share.estimate * (1.0 - share.estimate) / n,
        )
    mean = mean_interval(n, counts.mean, counts.sample_variance)
    return Summary(
        *base,
        mean.estimate,
        mean.low,
        mean.high,
        counts.sample_variance / n if n >= 2 else None,
        100.0 * counts.promoters / n,
    )


class Change(NamedTuple):
    """A difference (current − previous, or a segment's change − the rest's change), its 95%
    interval and two-sided p-value, before and after adjustment."""

    difference: float | None
    low: float | None
    high: float | None
    p: float | None
    tested: bool  # every group has at least MIN_N ratings
    note: str | None
    q: float | None = None
    significant: bool = False
    note_code: NoteCode | None = None
    note_groups: tuple[str, ...] = ()


def _normal_p(statistic: float) -> float:
    return min(1.0, 2.0 * (1.0 - normal_cdf(abs(statistic))))


class _Note(NamedTuple):
    code: NoteCode
    groups: tuple[str, ...]
    text: str


def _untestable(
    groups: Sequence[Summary], names: Sequence[str], codes: Sequence[str]
) -> _Note | None:
    empty = [i for i, g in enumerate(groups) if g.n == 0]
    if empty:
        return _Note(
            "no_ratings",
            tuple(codes[i] for i in empty),
            f"no ratings in {' and '.join(names[i] for i in empty)}: nothing to compare",
        )
    small = [i for i, g in enumerate(groups) if g.n < MIN_N]
    if small:
        return _Note(
            "few_ratings",
            tuple(codes[i] for i in small),
            f"fewer than {MIN_N} ratings in {' and '.join(names[i] for i in small)}: "
            "shown, but never called significant",
        )
    return None


def _noted(result: tuple[float, float, float, float] | None, note: _Note | None) -> Change:
    """The change with its note (text, code, groups); untested without a result."""
    if result is None:
        if note is None:
            note = _Note("too_few", (), "too few ratings to compare")
        return Change(None, None, None, None, False, note.text,
                      note_code=note.code, note_groups=note.groups)  # fmt: skip
    if note is None:
        return Change(*result, tested=True, note=None)
    return Change(*result, tested=False, note=note.text,
                  note_code=note.code, note_groups=note.groups)  # fmt: skip


def _difference(
    kind: Kind, signs: Sequence[int], groups: Sequence[Summary], pooled_p: float | None
) -> tuple[float, float, float, float] | None:
    """(difference, low, high, p) of Σ sign·metric, or None when its variance is undefined."""
    metrics = [g.metric for g in groups]
    variances = [g.variance for g in groups]
    if any(m is None for m in metrics) or any(v is None for v in variances):
        return None
    difference = sum(s * m for s, m in zip(signs, metrics, strict=True) if m is not None)
    variance = sum(v for v in variances if v is not None)
    if metric_family(kind) == "mean":
        # Welch: t with the Welch–Satterthwaite degrees of freedom (any number of groups).
        parts = [v for v in variances if v is not None]
        denominator = sum(v * v / (g.n - 1) for v, g in zip(parts, groups, strict=True))
        if variance <= 0 or denominator <= 0:
            return _degenerate(difference)
        df = variance * variance / denominator
        se = math.sqrt(variance)
        half = t_quantile(0.975, df) * se
        p = min(1.0, 2.0 * (1.0 - t_cdf(abs(difference) / se, df)))
        return difference, difference - half, difference + half, p
    if variance <= 0:
        return _degenerate(difference)
    half = Z95 * math.sqrt(variance)
    if pooled_p is not None:
        # Two-proportion z test: the null says both periods share one proportion.
        n1, n0 = groups[0].n, groups[1].n
        se0 = 100.0 * math.sqrt(pooled_p * (1.0 - pooled_p) * (1.0 / n1 + 1.0 / n0))
        p = _normal_p(difference / se0) if se0 > 0 else (0.0 if difference else 1.0)
    else:
        p = _normal_p(difference / math.sqrt(variance))
    return difference, difference - half, difference + half, p


def _degenerate(difference: float) -> tuple[float, float, float, float]:
    # No spread in any group (everyone gave the same answer): a difference is certain.
    return difference, difference, difference, 0.0 if difference else 1.0


def change_between(kind: Kind, current: Summary, previous: Summary) -> Change:
    """current − previous, for independent samples (two periods)."""
    note = _untestable(
        [current, previous],
        ["the current period", "the previous period"],
        ["current", "previous"],
    )
    pooled = None
    if metric_family(kind) == "share" and current.n and previous.n:
        pooled = (current.promoters + previous.promoters) / (current.n + previous.n)
    return _noted(_difference(kind, (1, -1), [current, previous], pooled), note)


def change_against_rest(
    kind: Kind,
    segment_current: Summary,
    segment_previous: Summary,
    rest_current: Summary,
    rest_previous: Summary,
) -> Change:
    """(segment current − segment previous) − (rest current − rest previous): a change every
    segment shares (a holiday dip) cancels out; variance is the sum of the four."""
    groups = [segment_current, segment_previous, rest_current, rest_previous]
    note = _untestable(
        groups,
        [
            "the segment's current period",
            "the segment's previous period",
            "the rest's current period",
            "the rest's previous period",
        ],
        ["segment_current", "segment_previous", "rest_current", "rest_previous"],
    )
    return _noted(_difference(kind, (1, -1, -1, 1), groups, None), note)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (q), same order; None stays None and is not
    counted in the family."""
    indexed = sorted(
        ((p, i) for i, p in enumerate(p_values) if p is not None), key=lambda item: item[0]
    )
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(m, 0, -1):
        p, index = indexed[rank - 1]
        running = min(running, p * m / rank)
        adjusted[index] = min(1.0, running)
    return adjusted


def settle(changes: Sequence[Change]) -> list[Change]:
    """Adjust the p-values of the tested changes of one answer together and decide which
    are significant (q < ALPHA); untested ones keep significant = False and their note."""
    q_values = benjamini_hochberg([c.p if c.tested else None for c in changes])
    return [
        c._replace(q=q, significant=q is not None and q < ALPHA)
        for c, q in zip(changes, q_values, strict=True)
    ]
